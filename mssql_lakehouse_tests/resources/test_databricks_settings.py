"""The databricks deployment is configured from the environment and never holds a secret's value."""

import json

import pytest

from mssql_lakehouse.resources.databricks import (
    DatabricksSettings,
    DatabricksSettingsError,
    parse_secret_mappings,
)

BASE = {"DATABRICKS_HOST": "https://example.cloud.databricks.com", "LAKEHOUSE_CATALOG": "lakehouse"}


def test_token_is_referenced_by_environment_variable_never_copied():
    settings = DatabricksSettings.from_env({**BASE, "DATABRICKS_TOKEN": "dapi-very-secret"})
    config = settings.launcher_config()
    assert config["databricks_token"] == {"env": "DATABRICKS_TOKEN"}
    assert config["databricks_host"] == {"env": "DATABRICKS_HOST"}
    assert "dapi-very-secret" not in json.dumps(config)


def test_oauth_service_principal_is_supported():
    settings = DatabricksSettings.from_env(
        {**BASE, "DATABRICKS_CLIENT_ID": "sp-id", "DATABRICKS_CLIENT_SECRET": "sp-secret"}
    )
    config = settings.launcher_config()
    assert config["oauth_credentials"] == {
        "client_id": {"env": "DATABRICKS_CLIENT_ID"},
        "client_secret": {"env": "DATABRICKS_CLIENT_SECRET"},
    }
    assert "sp-secret" not in json.dumps(config)


def test_existing_cluster_or_new_job_cluster():
    existing = DatabricksSettings.from_env({**BASE, "DATABRICKS_TOKEN": "t", "DATABRICKS_CLUSTER_ID": "0101-abc"})
    assert existing.launcher_config()["run_config"]["cluster"] == {"existing": "0101-abc"}
    new = DatabricksSettings.from_env(
        {**BASE, "DATABRICKS_TOKEN": "t", "DATABRICKS_NODE_TYPE": "Standard_E8ds_v5", "DATABRICKS_NUM_WORKERS": "4"}
    )
    cluster = new.launcher_config()["run_config"]["cluster"]["new"]
    assert cluster["nodes"] == {"node_types": {"node_type_id": "Standard_E8ds_v5"}}
    assert cluster["size"] == {"num_workers": 4}


def test_sql_server_credentials_travel_as_secret_scope_references():
    settings = DatabricksSettings.from_env(
        {**BASE, "DATABRICKS_TOKEN": "t", "LAKEHOUSE_DATABRICKS_SECRETS": "MSSQL_PASSWORD=erp/pw; MSSQL_USER=erp/user"}
    )
    assert settings.launcher_config()["secrets_to_env_variables"] == [
        {"name": "MSSQL_PASSWORD", "scope": "erp", "key": "pw"},
        {"name": "MSSQL_USER", "scope": "erp", "key": "user"},
    ]


def test_cluster_libraries_are_pinned_to_the_versions_running_here():
    from importlib import metadata

    libraries = DatabricksSettings.from_env({**BASE, "DATABRICKS_TOKEN": "t"}).launcher_config()["run_config"]["libraries"]
    assert {"pypi": {"package": f"dagster-databricks=={metadata.version('dagster-databricks')}"}} in libraries


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DATABRICKS_HOST": "h", "LAKEHOUSE_CATALOG": "c"}, "DATABRICKS_TOKEN"),
        ({**BASE, "DATABRICKS_TOKEN": "t", "DATABRICKS_NUM_WORKERS": "many"}, "DATABRICKS_NUM_WORKERS"),
        ({**BASE, "DATABRICKS_TOKEN": "t", "DATABRICKS_STAGING_PREFIX": "staging"}, "absolute"),
    ],
)
def test_bad_settings_fail_with_the_setting_named(env, message):
    with pytest.raises(DatabricksSettingsError, match=message):
        DatabricksSettings.from_env(env)


def test_malformed_secret_mapping_is_refused():
    with pytest.raises(DatabricksSettingsError, match="ENV_NAME=scope/key"):
        parse_secret_mappings("MSSQL_PASSWORD=no-scope")
