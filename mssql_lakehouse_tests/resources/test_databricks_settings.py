"""The databricks deployment is configured from the environment's settings and never holds a secret's value."""

import json
import os
from importlib import metadata

import dagster as dg
import pytest

from mssql_lakehouse.lib.resources.databricks import DatabricksSettings, DatabricksTables, copy_code_packages
from mssql_lakehouse.lib.resources.deployment import resources_for
from mssql_lakehouse.settings import LakehouseSettings, SettingsError, parse_secret_mappings

BASE = {"DATABRICKS_HOST": "https://example.cloud.databricks.com", "LAKEHOUSE_CATALOG": "lakehouse"}


def launcher_settings(env: dict[str, str]) -> DatabricksSettings:
    """The launcher's settings of the databricks deployment configured by ``env``."""
    return DatabricksSettings.from_settings(LakehouseSettings.from_env({"LAKEHOUSE_DEPLOYMENT": "databricks", **env}))


def cluster_tables(env: dict[str, str]) -> DatabricksTables:
    """The tables as the cluster (which needs no workspace settings) sees them."""
    settings = LakehouseSettings.from_env(
        {"LAKEHOUSE_DEPLOYMENT": "databricks", "DATABRICKS_RUNTIME_VERSION": "17.3", **env}
    )
    return DatabricksTables.from_settings(settings.paths)


def test_token_is_referenced_by_environment_variable_never_copied():
    settings = launcher_settings({**BASE, "DATABRICKS_TOKEN": "dapi-very-secret"})
    config = settings.launcher_config()
    assert config["databricks_token"] == {"env": "DATABRICKS_TOKEN"}
    assert config["databricks_host"] == {"env": "DATABRICKS_HOST"}
    assert "dapi-very-secret" not in json.dumps(config)


def test_oauth_service_principal_is_supported():
    settings = launcher_settings({**BASE, "DATABRICKS_CLIENT_ID": "sp-id", "DATABRICKS_CLIENT_SECRET": "sp-secret"})
    config = settings.launcher_config()
    assert config["oauth_credentials"] == {
        "client_id": {"env": "DATABRICKS_CLIENT_ID"},
        "client_secret": {"env": "DATABRICKS_CLIENT_SECRET"},
    }
    assert "sp-secret" not in json.dumps(config)


def test_existing_cluster_or_new_job_cluster():
    existing = launcher_settings({**BASE, "DATABRICKS_TOKEN": "t", "DATABRICKS_CLUSTER_ID": "0101-abc"})
    assert existing.launcher_config()["run_config"]["cluster"] == {"existing": "0101-abc"}
    new = launcher_settings(
        {**BASE, "DATABRICKS_TOKEN": "t", "DATABRICKS_NODE_TYPE": "Standard_E8ds_v5", "DATABRICKS_NUM_WORKERS": "4"}
    )
    cluster = new.launcher_config()["run_config"]["cluster"]["new"]
    assert cluster["nodes"] == {"node_types": {"node_type_id": "Standard_E8ds_v5"}}
    assert cluster["size"] == {"num_workers": 4}


def test_sql_server_credentials_travel_as_secret_scope_references():
    settings = launcher_settings(
        {**BASE, "DATABRICKS_TOKEN": "t", "LAKEHOUSE_DATABRICKS_SECRETS": "MSSQL_PASSWORD=erp/pw; MSSQL_USER=erp/user"}
    )
    assert settings.launcher_config()["secrets_to_env_variables"] == [
        {"name": "MSSQL_PASSWORD", "scope": "erp", "key": "pw"},
        {"name": "MSSQL_USER", "scope": "erp", "key": "user"},
    ]


def test_cluster_libraries_are_pinned_to_the_versions_running_here():
    libraries = launcher_settings(
        {**BASE, "DATABRICKS_TOKEN": "t", "LAKEHOUSE_DATABRICKS_EXTRA_LIBRARIES": "openpyxl==3.1.5"}
    ).launcher_config()["run_config"]["libraries"]
    packages = [library["pypi"]["package"] for library in libraries]
    assert f"dagster-databricks=={metadata.version('dagster-databricks')}" in packages
    assert f"dagster=={metadata.version('dagster')}" in packages
    assert all("==" in p for p in packages)
    assert "openpyxl==3.1.5" in packages
    assert f"deltalake[pyarrow]=={metadata.version('deltalake')}" in packages  # with its extras
    # The runtime brings Spark and Delta; a second pyspark on the cluster breaks it.
    assert not [p for p in packages if p.startswith(("pyspark", "delta-spark", "dagster-webserver"))]


def test_tables_are_unity_catalog_names_or_a_storage_path_never_both():
    assert cluster_tables({"LAKEHOUSE_CATALOG": "lakehouse"}) == DatabricksTables(catalog="lakehouse")
    assert cluster_tables({"LAKEHOUSE_TABLES_ROOT": "abfss://lake@acct.dfs.core.windows.net/tables"}) == (
        DatabricksTables(tables_root="abfss://lake@acct.dfs.core.windows.net/tables")
    )
    with pytest.raises(SettingsError, match="not both"):
        cluster_tables({"LAKEHOUSE_CATALOG": "c", "LAKEHOUSE_TABLES_ROOT": "/t"})
    with pytest.raises(SettingsError, match="exactly one of LAKEHOUSE_CATALOG"):
        cluster_tables({})


def test_the_cluster_gets_the_deployment_the_tables_and_the_source_location_as_plain_env():
    settings = launcher_settings(
        {
            **BASE,
            "DATABRICKS_TOKEN": "t",
            "MSSQL_SERVER": "erp.example.com",
            "MSSQL_DATABASE": "erp",
            "MSSQL_PASSWORD": "never-plain",
            "LAKEHOUSE_ERP_TIMEZONE": "Europe/Berlin",
            "LAKEHOUSE_DATABRICKS_FORWARD_ENV": "LAKEHOUSE_SALES_CUTOFF_CRON",
            "LAKEHOUSE_SALES_CUTOFF_CRON": "0 3 * * *",
            # Partition-shaping and per-region settings: the cluster must build the same partitions.
            "LAKEHOUSE_INVENTORY_REGIONS": "amer,emea",
            "LAKEHOUSE_LANDING_ROOT_EMEA": "abfss://landing@emea.dfs.core.windows.net/inventory",
            "LAKEHOUSE_HOME": "/home/me/.lakehouse",
        }
    )
    assert settings.launcher_config()["env_variables"] == {
        "LAKEHOUSE_DEPLOYMENT": "databricks",
        "LAKEHOUSE_CATALOG": "lakehouse",
        "LAKEHOUSE_ERP_TIMEZONE": "Europe/Berlin",
        "MSSQL_SERVER": "erp.example.com",
        "MSSQL_DATABASE": "erp",
        "LAKEHOUSE_SALES_CUTOFF_CRON": "0 3 * * *",
        "LAKEHOUSE_INVENTORY_REGIONS": "amer,emea",
        "LAKEHOUSE_LANDING_ROOT_EMEA": "abfss://landing@emea.dfs.core.windows.net/inventory",
    }
    assert "never-plain" not in json.dumps(settings.launcher_config())


def test_secret_looking_variables_are_refused_as_plain_env():
    with pytest.raises(SettingsError, match=r"MSSQL_CLIENT_SECRET.*LAKEHOUSE_DATABRICKS_SECRETS"):
        launcher_settings({**BASE, "DATABRICKS_TOKEN": "t", "LAKEHOUSE_DATABRICKS_FORWARD_ENV": "MSSQL_CLIENT_SECRET"})


def test_the_launcher_waits_a_little_longer_than_databricks_lets_the_run_last():
    config = launcher_settings(
        {**BASE, "DATABRICKS_TOKEN": "t", "DATABRICKS_RUN_TIMEOUT_SECONDS": "1800"}
    ).launcher_config()
    assert config["run_config"]["timeout_seconds"] == 1800
    assert config["max_completion_wait_time_seconds"] == 2100


def test_only_the_code_packages_are_uploaded(tmp_path):
    copy_code_packages(["mssql_lakehouse"], tmp_path)
    assert (tmp_path / "mssql_lakehouse" / "definitions.py").exists()
    assert not list(tmp_path.rglob("__pycache__"))
    assert [p.name for p in tmp_path.iterdir()] == ["mssql_lakehouse"]


def test_the_launcher_config_is_accepted_by_the_launcher_resource():
    settings = launcher_settings({**BASE, "DATABRICKS_TOKEN": "t"})
    from mssql_lakehouse.lib.resources.databricks import databricks_step_launcher

    launcher = databricks_step_launcher(settings)
    assert isinstance(launcher, dg.ResourceDefinition)


def test_on_the_cluster_the_definitions_need_no_workspace_settings(monkeypatch):
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "LAKEHOUSE_CATALOG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")
    monkeypatch.setenv("LAKEHOUSE_TABLES_ROOT", "/Volumes/lakehouse/tables")
    resources = resources_for(LakehouseSettings.from_env({**os.environ, "LAKEHOUSE_DEPLOYMENT": "databricks"}))
    assert resources["io_manager"].tables_root == "/Volumes/lakehouse/tables"
    assert resources["tables"].tables_root == "/Volumes/lakehouse/tables"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABRICKS_HOST": "h", "LAKEHOUSE_CATALOG": "c"}, "DATABRICKS_TOKEN"),
        ({**BASE, "DATABRICKS_TOKEN": "t", "DATABRICKS_NUM_WORKERS": "many"}, "DATABRICKS_NUM_WORKERS"),
        ({**BASE, "DATABRICKS_TOKEN": "t", "DATABRICKS_STAGING_PREFIX": "staging"}, "absolute"),
        (
            {**BASE, "DATABRICKS_TOKEN": "t", "DATABRICKS_POLL_INTERVAL_SECONDS": "soon"},
            "DATABRICKS_POLL_INTERVAL_SECONDS",
        ),
        ({"DATABRICKS_HOST": "h", "DATABRICKS_TOKEN": "t"}, "LAKEHOUSE_CATALOG"),
    ],
)
def test_bad_settings_fail_with_the_setting_named(env, message):
    with pytest.raises(SettingsError, match=message):
        launcher_settings(env)


def test_malformed_secret_mapping_is_refused():
    with pytest.raises(SettingsError, match="ENV_NAME=scope/key"):
        parse_secret_mappings("MSSQL_PASSWORD=no-scope")
