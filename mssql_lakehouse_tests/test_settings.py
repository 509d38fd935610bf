"""The settings are parsed once, each variable in one place, every bad one named at once, no secret shown."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mssql_lakehouse.settings import (
    Deployment,
    LakehouseSettings,
    SettingsError,
    Site,
    forwarded_variables,
    project_root,
    variables,
)

# A value for every variable, and the parsed value to expect (section, field, value).
GIVEN = {
    "LAKEHOUSE_DEPLOYMENT": ("Databricks", "paths", "deployment", Deployment.DATABRICKS),
    "LAKEHOUSE_HOME": ("/srv/lake", "paths", "home", Path("/srv/lake")),
    "LAKEHOUSE_CATALOG": ("lakehouse_prod", "paths", "catalog", "lakehouse_prod"),
    "DR_LAKEHOUSE_ROOT": ("/srv/dr", "paths", "dr_tables_root", "/srv/dr"),
    "LAKEHOUSE_DEMO_ERP_DIR": ("/srv/demo", "paths", "demo_erp_dir", Path("/srv/demo")),
    "LAKEHOUSE_JAR_CACHE": ("/srv/jars", "paths", "jar_cache_dir", Path("/srv/jars")),
    "LAKEHOUSE_RUN_ALERTS_URI": ("/srv/alerts", "paths", "run_alerts_uri", "/srv/alerts"),
    "LAKEHOUSE_SPARK_MASTER": ("local[2]", "local_spark", "master", "local[2]"),
    "LAKEHOUSE_SPARK_DRIVER_MEMORY": ("12g", "local_spark", "driver_memory", "12g"),
    "LAKEHOUSE_SPARK_TUNING": ("Spark_Defaults", "local_spark", "tuning", "spark_defaults"),
    "LAKEHOUSE_SPARK_CONF": (
        '{"spark.sql.shuffle.partitions": 8, "spark.sql.adaptive.enabled": true}',
        "local_spark",
        "conf",
        {"spark.sql.shuffle.partitions": "8", "spark.sql.adaptive.enabled": "true"},
    ),
    "LAKEHOUSE_ERP_TIMEZONE": ("America/New_York", "business_day", "erp_timezone", "America/New_York"),
    "LAKEHOUSE_PARTITIONS_START": ("2025-07-01", "business_day", "partitions_start", "2025-07-01"),
    "MSSQL_SERVER": ("erp.example.net", "sources", "server", "erp.example.net"),
    "MSSQL_PORT": ("14330", "sources", "port", 14330),
    "MSSQL_DATABASE": ("erp", "sources", "database", "erp"),
    "MSSQL_ENGINE": ("MSSQL", "sources", "engine", "mssql"),
    "MSSQL_AUTH": ("service_principal", "sources", "auth", "service_principal"),
    "MSSQL_USER": ("etl", "sources", "user", "etl"),
    "MSSQL_PASSWORD": ("pw-value", "sources", "password", "MSSQL_PASSWORD"),
    "MSSQL_CLIENT_ID": ("app", "sources", "client_id", "app"),
    "MSSQL_CLIENT_SECRET": ("cs-value", "sources", "client_secret", "MSSQL_CLIENT_SECRET"),
    "MSSQL_TENANT_ID": ("tenant", "sources", "tenant_id", "tenant"),
    "MSSQL_ENCRYPT": ("no", "sources", "encrypt", False),
    "MSSQL_TRUST_SERVER_CERTIFICATE": ("yes", "sources", "trust_server_certificate", True),
    "MSSQL_DEMO_PATH": ("/srv/erp.duckdb", "sources", "demo_path", "/srv/erp.duckdb"),
    "MSSQL_TIME_ZONE": ("America/New_York", "sources", "time_zone", "America/New_York"),
    "LAKEHOUSE_SALES_CUTOFF_CRON": ("30 3 * * *", "sales", "cutoff_cron", "30 3 * * *"),
    "LAKEHOUSE_INVENTORY_REGIONS": ("amer, latam", "inventory", "regions", ("amer", "latam")),
    "LAKEHOUSE_INVENTORY_MIN_DAYS_OF_COVER": ("4.5", "inventory", "min_days_of_cover", 4.5),
    "LAKEHOUSE_CDC_FEED": ("Debezium", "customer_cdc", "feed", "debezium"),
    "LAKEHOUSE_DEBEZIUM_SOURCE": ("kafka", "customer_cdc", "debezium_source", "kafka"),
    "LAKEHOUSE_DEBEZIUM_PATH": ("/srv/events", "customer_cdc", "debezium_path", "/srv/events"),
    "LAKEHOUSE_DEBEZIUM_STORAGE": ("/srv/raw", "customer_cdc", "debezium_storage", "/srv/raw"),
    "LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS": ("k:9092", "customer_cdc", "kafka_bootstrap_servers", "k:9092"),
    "LAKEHOUSE_KAFKA_TOPIC": ("erp.dbo.Customer", "customer_cdc", "kafka_topic", "erp.dbo.Customer"),
    "LAKEHOUSE_EVENTHUBS_CONNECTION_STRING": (
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=eh-value",
        "customer_cdc",
        "eventhubs_connection_string",
        "LAKEHOUSE_EVENTHUBS_CONNECTION_STRING",
    ),
    "LAKEHOUSE_DEBEZIUM_TIME_PRECISION_MODE": ("connect", "customer_cdc", "time_precision_mode", "connect"),
    "LAKEHOUSE_DEBEZIUM_DECIMAL_HANDLING_MODE": ("string", "customer_cdc", "decimal_handling_mode", "string"),
    "LAKEHOUSE_CDC_MAX_LAG_HOURS": ("12", "customer_cdc", "max_lag_hours", 12.0),
    "LAKEHOUSE_ARCHIVE_ROOT": ("/srv/archive", "finance", "archive_root", "/srv/archive"),
    "LAKEHOUSE_AUDIT_RETENTION_DAYS": ("3650", "finance", "retention_days", 3650),
    "LAKEHOUSE_FINANCE_GRANTS": (
        '{"gold": {"auditors": ["SELECT"]}}',
        "finance",
        "grants",
        {"gold": {"auditors": ["SELECT"]}},
    ),
    "LAKEHOUSE_FINANCE_REVOKE_FROM": ("a, b", "finance", "revoke_from", ("a", "b")),
    "LAKEHOUSE_FINANCE_CLOSE_CRON": ("0 7 * * 1-5", "finance", "close_cron", "0 7 * * 1-5"),
    "LAKEHOUSE_FINANCE_CLOSE_BUSINESS_DAY": ("5", "finance", "close_business_day", 5),
    "LAKEHOUSE_DR_TABLES": ("silver/a, gold/b,silver/a", "dr", "tables", ("silver/a", "gold/b")),
    "LAKEHOUSE_DR_CATALOG": ("lakehouse_dr", "dr", "catalog", "lakehouse_dr"),
    "LAKEHOUSE_DR_MAX_LAG_MINUTES": ("30", "dr", "max_lag_minutes", 30.0),
    "LAKEHOUSE_DR_CRON": ("*/10 * * * *", "dr", "cron", "*/10 * * * *"),
    "DATABRICKS_HOST": ("https://adb.example.net", "databricks", "host", "https://adb.example.net"),
    "DATABRICKS_TOKEN": ("dapi-value", "databricks", "token", "DATABRICKS_TOKEN"),
    "DATABRICKS_CLIENT_ID": ("sp", "databricks", "client_id", "sp"),
    "DATABRICKS_CLIENT_SECRET": ("sp-value", "databricks", "client_secret", "DATABRICKS_CLIENT_SECRET"),
    "DATABRICKS_CLUSTER_ID": ("0101-abc", "databricks", "cluster_id", "0101-abc"),
    "DATABRICKS_SPARK_VERSION": ("16.4.x-scala2.12", "databricks", "spark_version", "16.4.x-scala2.12"),
    "DATABRICKS_NODE_TYPE": ("Standard_E8ds_v5", "databricks", "node_type", "Standard_E8ds_v5"),
    "DATABRICKS_NUM_WORKERS": ("4", "databricks", "num_workers", 4),
    "DATABRICKS_DATA_SECURITY_MODE": ("USER_ISOLATION", "databricks", "data_security_mode", "USER_ISOLATION"),
    "DATABRICKS_POLICY_ID": ("policy", "databricks", "policy_id", "policy"),
    "DATABRICKS_STAGING_PREFIX": ("/staging", "databricks", "staging_prefix", "/staging"),
    "LAKEHOUSE_DATABRICKS_CODE_PACKAGES": (
        "mssql_lakehouse,extra",
        "databricks",
        "code_packages",
        ("mssql_lakehouse", "extra"),
    ),
    "LAKEHOUSE_DATABRICKS_EXTRA_LIBRARIES": ("openpyxl==3.1.5", "databricks", "extra_libraries", ("openpyxl==3.1.5",)),
    "LAKEHOUSE_DATABRICKS_FORWARD_ENV": ("LAKEHOUSE_DR_CRON", "databricks", "forward_env", ("LAKEHOUSE_DR_CRON",)),
    "DATABRICKS_RUN_TIMEOUT_SECONDS": ("1800", "databricks", "run_timeout_seconds", 1800),
    "DATABRICKS_WAIT_TIMEOUT_SECONDS": ("2000", "databricks", "wait_timeout_seconds", 2000),
    "DATABRICKS_POLL_INTERVAL_SECONDS": ("2.5", "databricks", "poll_interval_seconds", 2.5),
    "LAKEHOUSE_MAINTENANCE_CRON": ("0 4 * * 6", "maintenance", "cron", "0 4 * * 6"),
    "LAKEHOUSE_ALERTS_WEBHOOK_URL": ("hook-value", "alerts", "webhook_url", "LAKEHOUSE_ALERTS_WEBHOOK_URL"),
    "LAKEHOUSE_ALERTS_WEBHOOK_FORMAT": ("Teams", "alerts", "webhook_format", "teams"),
}
# Each given in its own environment: they exclude one another or another variable's given value.
ALONE = {
    "LAKEHOUSE_ACTIVE_SITE": ("Secondary", "paths", "active_site", Site.SECONDARY),
    "LAKEHOUSE_TABLES_ROOT": ("/srv/tables", "paths", "tables_root", "/srv/tables"),
    "DATABRICKS_RUNTIME_VERSION": ("17.3", "paths", "on_databricks", True),
    "LAKEHOUSE_DATABRICKS_SECRETS": ("MSSQL_USER=erp/user", "databricks", "secrets", None),
}


def test_every_variable_is_parsed_into_its_section():
    settings = LakehouseSettings.from_env({name: raw for name, (raw, *_) in GIVEN.items()})
    for name, (_, section, attribute, expected) in GIVEN.items():
        assert getattr(getattr(settings, section), attribute) == expected, name
    for name, (raw, section, attribute, expected) in ALONE.items():
        # On a cluster the tables must be named too.
        tables = {"LAKEHOUSE_TABLES_ROOT": "/Volumes/t"} if name == "DATABRICKS_RUNTIME_VERSION" else {}
        parsed = getattr(getattr(LakehouseSettings.from_env({name: raw, **tables}), section), attribute)
        if name == "LAKEHOUSE_DATABRICKS_SECRETS":
            assert [(s.env_name, s.scope, s.key) for s in parsed] == [("MSSQL_USER", "erp", "user")]
        else:
            assert parsed == expected, name
    # Every variable the model knows is covered above (the per-region ones below).
    known = {row["name"] for row in variables() if not row["name"].endswith("<REGION>")}
    assert known == set(GIVEN) | set(ALONE)


def test_defaults_hold_without_any_variable(tmp_path):
    settings = LakehouseSettings.from_env({"LAKEHOUSE_HOME": str(tmp_path)})
    assert settings.paths.deployment is Deployment.LOCAL
    assert settings.paths.local_tables_root == tmp_path / "tables"
    assert settings.paths.standby_tables_root == tmp_path / "dr" / "tables"
    assert settings.paths.demo_erp_dir == tmp_path / "demo_erp"
    assert settings.paths.run_alerts_uri == str(tmp_path / "tables" / "ops" / "run_alerts")
    assert settings.erp_timezone == "UTC"
    assert settings.inventory.regions == ("amer", "emea", "apac")
    assert settings.inventory.landing_roots["amer"] == f"{tmp_path}/landing/inventory/amer"
    assert settings.databricks.wait_timeout_seconds == 3600 + 300


def test_per_region_variables_follow_the_regions():
    settings = LakehouseSettings.from_env(
        {
            "LAKEHOUSE_INVENTORY_REGIONS": "amer,emea",
            "LAKEHOUSE_LANDING_ROOT_EMEA": "abfss://landing@emea.dfs.core.windows.net/inventory/",
            "LAKEHOUSE_AUTOLOADER_ROOT_EMEA": "abfss://state@emea.dfs.core.windows.net/autoloader",
        }
    )
    assert settings.inventory.landing_roots["emea"] == "abfss://landing@emea.dfs.core.windows.net/inventory"
    assert settings.inventory.autoloader_roots["emea"] == "abfss://state@emea.dfs.core.windows.net/autoloader"
    assert settings.inventory.autoloader_roots["amer"].endswith("/landing/inventory/amer/_autoloader")


def test_the_error_names_every_bad_or_missing_variable_at_once():
    with pytest.raises(SettingsError) as raised:
        LakehouseSettings.from_env(
            {
                "LAKEHOUSE_ERP_TIMEZONE": "Mars/Olympus",
                "MSSQL_PORT": "fourteen",
                "MSSQL_SERVER": "erp.example.net",  # without MSSQL_DATABASE
                "LAKEHOUSE_INVENTORY_REGIONS": "amer,amer",
                "LAKEHOUSE_SALES_CUTOFF_CRON": "at two",
                "LAKEHOUSE_FINANCE_GRANTS": "{not json",
                "LAKEHOUSE_DR_TABLES": "silver/x`; DROP TABLE y",
                "LAKEHOUSE_SPARK_CONF": '{"shuffle.partitions": 8}',  # not a Spark setting
                "LAKEHOUSE_SPARK_TUNING": "fast",
                "LAKEHOUSE_ALERTS_WEBHOOK_FORMAT": "email",
                "LAKEHOUSE_DEPLOYMENT": "databricks",  # without workspace or tables
            }
        )
    assert set(raised.value.problems) == {
        "LAKEHOUSE_ERP_TIMEZONE",
        "MSSQL_PORT",
        "MSSQL_DATABASE",
        "LAKEHOUSE_INVENTORY_REGIONS",
        "LAKEHOUSE_SALES_CUTOFF_CRON",
        "LAKEHOUSE_FINANCE_GRANTS",
        "LAKEHOUSE_DR_TABLES",
        "LAKEHOUSE_SPARK_CONF",
        "LAKEHOUSE_SPARK_TUNING",
        "LAKEHOUSE_ALERTS_WEBHOOK_FORMAT",
        "LAKEHOUSE_CATALOG",
        "DATABRICKS_HOST",
        "DATABRICKS_TOKEN",
    }
    for name in raised.value.problems:
        assert name in str(raised.value)


def test_a_source_zone_other_than_the_business_day_is_refused():
    with pytest.raises(SettingsError, match=r"MSSQL_TIME_ZONE.*LAKEHOUSE_ERP_TIMEZONE"):
        LakehouseSettings.from_env({"LAKEHOUSE_ERP_TIMEZONE": "America/New_York", "MSSQL_TIME_ZONE": "UTC"})


def test_the_forwarded_variables_are_derived_from_the_fields():
    forwarded = set(forwarded_variables(("amer", "emea")))
    by_fields = {row["name"] for row in variables() if row["forward"] and not row["name"].endswith("<REGION>")}
    assert forwarded == by_fields | {
        "LAKEHOUSE_LANDING_ROOT_AMER",
        "LAKEHOUSE_LANDING_ROOT_EMEA",
        "LAKEHOUSE_AUTOLOADER_ROOT_AMER",
        "LAKEHOUSE_AUTOLOADER_ROOT_EMEA",
    }
    assert {
        "LAKEHOUSE_ERP_TIMEZONE",
        "LAKEHOUSE_PARTITIONS_START",
        "LAKEHOUSE_INVENTORY_REGIONS",
        "MSSQL_SERVER",
    } <= forwarded
    # Secrets are never forwarded, and the local-only variables neither.
    secrets = {row["name"] for row in variables() if row["secret"]}
    assert secrets == {
        "MSSQL_PASSWORD",
        "MSSQL_CLIENT_SECRET",
        "LAKEHOUSE_EVENTHUBS_CONNECTION_STRING",
        "DATABRICKS_TOKEN",
        "DATABRICKS_CLIENT_SECRET",
        "LAKEHOUSE_ALERTS_WEBHOOK_URL",
    }
    assert not forwarded & (secrets | {"LAKEHOUSE_HOME", "LAKEHOUSE_DEPLOYMENT"})
    env = {name: raw for name, (raw, *_) in GIVEN.items()}
    assert set(LakehouseSettings.from_env(env).forwarded_env) == (forwarded & set(env)) | {"LAKEHOUSE_DR_CRON"}


def test_no_secret_value_in_the_repr():
    settings = LakehouseSettings.from_env({name: raw for name, (raw, *_) in GIVEN.items()})
    shown = repr(settings) + str(settings) + repr(settings.forwarded_env)
    for value in ("pw-value", "cs-value", "eh-value", "dapi-value", "sp-value", "hook-value"):
        assert value not in shown
    assert "MSSQL_PASSWORD" in shown  # the variable's name is kept, to be read when a run starts


def test_only_the_settings_module_reads_the_environment():
    found = subprocess.run(
        ["grep", "-rnE", r"os\.environ|getenv", "mssql_lakehouse", "--include=*.py"],
        cwd=project_root(),
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert {line.split(":")[0] for line in found} == {"mssql_lakehouse/settings.py"}, found
