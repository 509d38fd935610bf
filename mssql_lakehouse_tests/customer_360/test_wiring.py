"""How the slice plugs into a code location, and the streaming landing of Debezium events."""

import secrets

import dagster as dg

from mssql_lakehouse.defs.customer_360 import bronze, gold, silver
from mssql_lakehouse.defs.customer_360 import checks as customer_360_checks
from mssql_lakehouse.defs.customer_360.common import CHANGES, CUSTOMERS, HISTORY, QUARANTINE, SNAPSHOT
from mssql_lakehouse.defs.customer_360.sensors import customer_changes_sensor
from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
from mssql_lakehouse.lib.resources.deployment import resources_for
from mssql_lakehouse.lib.transforms.debezium import DebeziumSource, event_stream, kafka_options, land_new_events
from mssql_lakehouse.settings import LakehouseSettings


def test_the_slice_loads_into_definitions(lakehouse_home):
    defs = dg.Definitions(
        assets=dg.load_assets_from_modules([bronze, silver, gold]),
        asset_checks=dg.load_asset_checks_from_modules([customer_360_checks]),
        sensors=[customer_changes_sensor],
        resources={
            **resources_for(LakehouseSettings.from_env()),
            "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env()),
        },
    )
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {CHANGES, SNAPSHOT, QUARANTINE, HISTORY, CUSTOMERS, dg.AssetKey(["gold", "customer_360"])} <= set(
        graph.get_all_asset_keys()
    )
    assert graph.get(HISTORY).partitions_def is not None
    check_names = {k.name for k in graph.asset_check_keys}
    assert {
        "cdc_lag",
        "schema_drift",
        "one_current_version_per_live_key",
        "validity_intervals",
        "matches_history_current_rows",
    } <= check_names


def test_settings_from_the_environment_keep_the_secret_a_reference(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_CDC_FEED", "Debezium")
    monkeypatch.setenv("LAKEHOUSE_DEBEZIUM_SOURCE", "eventhubs")
    monkeypatch.setenv("LAKEHOUSE_DEBEZIUM_STORAGE", "abfss://lake@acct.dfs.core.windows.net/cdc")
    monkeypatch.setenv("LAKEHOUSE_KAFKA_TOPIC", "erp.dbo.Customer")
    key = secrets.token_urlsafe(24)
    secret = f"Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey={key}"
    monkeypatch.setenv("LAKEHOUSE_EVENTHUBS_CONNECTION_STRING", secret)
    settings = CustomerCdcSettings.from_settings(LakehouseSettings.from_env())
    assert settings.feed == "debezium"
    assert isinstance(settings.eventhubs_connection_string, dg.EnvVar)
    resolved = CustomerCdcSettings(**{**settings.__dict__, "eventhubs_connection_string": secret})
    source = resolved.source()
    assert source.bootstrap_servers == "ns1.servicebus.windows.net:9093"
    assert source.checkpoint == "abfss://lake@acct.dfs.core.windows.net/cdc/_checkpoints/raw_events"
    assert key not in repr(source)
    options = kafka_options(source)
    assert options["subscribe"] == "erp.dbo.Customer"
    # Locally Spark's Kafka client is open-source Kafka's: its login module is not relocated.
    assert options["kafka.sasl.jaas.config"].startswith("org.apache.kafka.common.security.plain.PlainLoginModule ")


def test_on_databricks_event_hubs_log_in_through_the_runtime_s_relocated_kafka_client(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_DEPLOYMENT", "databricks")
    monkeypatch.setenv("LAKEHOUSE_CATALOG", "lakehouse_prod")
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")  # on the cluster: no workspace settings needed
    monkeypatch.delenv("LAKEHOUSE_TABLES_ROOT", raising=False)
    monkeypatch.setenv("LAKEHOUSE_CDC_FEED", "debezium")
    monkeypatch.setenv("LAKEHOUSE_DEBEZIUM_SOURCE", "eventhubs")
    monkeypatch.setenv("LAKEHOUSE_DEBEZIUM_STORAGE", "/Volumes/lake/cdc/streams")
    monkeypatch.setenv("LAKEHOUSE_KAFKA_TOPIC", "erp.dbo.Customer")
    secret = "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=abc"
    settings = CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), eventhubs_connection_string=secret)
    options = kafka_options(settings.source())
    assert options["kafka.sasl.jaas.config"].startswith("kafkashaded.org.apache.kafka.common.security.plain.")


def test_available_now_landing_appends_each_event_once(spark, tmp_path):
    """The streaming path (Kafka, Event Hubs, Auto Loader) with a file stream standing in for the broker."""
    landing = tmp_path / "landing"
    landing.mkdir()
    source = DebeziumSource(
        kind="kafka",
        bootstrap_servers="unused:9092",
        topic="t",
        path=str(landing),
        raw_table=str(tmp_path / "raw"),
        checkpoint=str(tmp_path / "checkpoint"),
    )
    files = DebeziumSource(kind="files", path=str(landing))

    (landing / "1.json").write_text('{"op":"c"}\n{"op":"u"}\n')
    land_new_events(spark, source, stream=event_stream(spark, files))
    (landing / "2.json").write_text('{"op":"d"}\n')
    land_new_events(spark, source, stream=event_stream(spark, files))
    land_new_events(spark, source, stream=event_stream(spark, files))

    raw = spark.read.format("delta").load(source.raw_table)
    assert sorted(r["value"] for r in raw.collect()) == ['{"op":"c"}', '{"op":"d"}', '{"op":"u"}']
