"""Customer 360's settings: which feed lands ``dbo.Customer``'s changes, and how Debezium events are read."""

from typing import Any, Literal

import dagster as dg
from pydantic import Field

from mssql_lakehouse.lib.transforms.debezium import (
    DebeziumEncoding,
    DebeziumSource,
    DebeziumSourceKind,
    connection_string_field,
)
from mssql_lakehouse.settings import LakehouseSettings


class CustomerCdcSettings(dg.ConfigurableResource):
    """Which feed lands ``dbo.Customer``'s changes, and how the Debezium feed is read.

    Built from the settings' ``customer_cdc`` section (``LAKEHOUSE_CDC_FEED``, ``LAKEHOUSE_DEBEZIUM_*``)
    by :meth:`from_settings`.
    """

    feed: Literal["sqlserver", "debezium"] = Field(default="sqlserver", description="LAKEHOUSE_CDC_FEED")
    debezium_source: Literal["files", "autoloader", "kafka", "eventhubs"] = Field(
        default="files", description="Where Debezium events are read from (LAKEHOUSE_DEBEZIUM_SOURCE)."
    )
    debezium_path: str | None = Field(
        default=None,
        description="Landing folder or container of the event files (LAKEHOUSE_DEBEZIUM_PATH); "
        ":meth:`from_settings` defaults it to $LAKEHOUSE_HOME/landing/debezium/customers.",
    )
    debezium_storage: str | None = Field(
        default=None,
        description="Folder for the raw event table and the stream checkpoint of the streaming "
        "sources (LAKEHOUSE_DEBEZIUM_STORAGE).",
    )
    kafka_bootstrap_servers: str | None = Field(default=None, description="LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS")
    kafka_topic: str | None = Field(default=None, description="Topic / event hub (LAKEHOUSE_KAFKA_TOPIC).")
    kafka_options: dict[str, str] = Field(
        default_factory=dict,
        description="More options of Spark's Kafka source (kafka.security.protocol, kafka.sasl.*, ...).",
    )
    eventhubs_connection_string: str | None = Field(
        default=None, description="Event Hubs connection string; give it as dg.EnvVar."
    )
    shaded_kafka_client: bool = Field(
        default=False,
        description="Spark's Kafka client is Databricks Runtime's, relocated under kafkashaded. "
        ":meth:`from_settings` sets it on the Databricks deployment.",
    )
    time_precision_mode: Literal["adaptive", "adaptive_time_microseconds", "connect"] = Field(
        default="adaptive", description="The connector's time.precision.mode."
    )
    decimal_handling_mode: Literal["precise", "string", "double"] = Field(
        default="precise", description="The connector's decimal.handling.mode."
    )
    max_lag_hours: float = Field(
        default=48.0, description="CDC lag above this many hours fails the cdc_lag check (LAKEHOUSE_CDC_MAX_LAG_HOURS)."
    )

    @classmethod
    def from_settings(cls, settings: LakehouseSettings, **overrides: Any) -> "CustomerCdcSettings":
        """The resource of the settings' ``customer_cdc`` section; the connection string stays a ``dg.EnvVar``."""
        cdc = settings.customer_cdc
        config: dict[str, Any] = {
            "feed": cdc.feed,
            "debezium_source": cdc.debezium_source,
            "debezium_path": cdc.debezium_path or str(settings.paths.landing_root / "debezium" / "customers"),
            # Locally the streams' raw table and checkpoint live under LAKEHOUSE_HOME; on Databricks
            # they must be given (a Unity Catalog volume or a storage path).
            "debezium_storage": cdc.debezium_storage
            or (None if settings.paths.on_databricks_deployment else str(settings.paths.home / "streams" / "debezium")),
            "kafka_bootstrap_servers": cdc.kafka_bootstrap_servers,
            "kafka_topic": cdc.kafka_topic,
            "shaded_kafka_client": settings.paths.on_databricks_deployment,
            "time_precision_mode": cdc.time_precision_mode,
            "decimal_handling_mode": cdc.decimal_handling_mode,
            "max_lag_hours": cdc.max_lag_hours,
        }
        if cdc.eventhubs_connection_string:
            config["eventhubs_connection_string"] = cdc.eventhubs_connection_string
        return cls(**{**config, **overrides})

    def landing_path(self) -> str:
        if not self.debezium_path:
            raise ValueError("customer_cdc has no debezium_path: build it with CustomerCdcSettings.from_settings")
        return self.debezium_path

    def source(self) -> DebeziumSource:
        storage = (self.debezium_storage or "").rstrip("/")
        streaming = self.debezium_source != "files"
        return DebeziumSource(
            kind=DebeziumSourceKind(self.debezium_source),
            path=self.landing_path(),
            raw_table=f"{storage}/raw_events" if streaming and storage else "",
            checkpoint=f"{storage}/_checkpoints/raw_events" if streaming and storage else "",
            bootstrap_servers=self.kafka_bootstrap_servers
            or (f"{_namespace(self.eventhubs_connection_string)}:9093" if self.eventhubs_connection_string else ""),
            topic=self.kafka_topic or "",
            kafka_options=self.kafka_options,
            secret=self.eventhubs_connection_string,
            shaded_kafka_client=self.shaded_kafka_client,
        )

    def encoding(self) -> DebeziumEncoding:
        return DebeziumEncoding(self.time_precision_mode, self.decimal_handling_mode)


def _namespace(connection_string: str) -> str:
    """``Endpoint=sb://<ns>.servicebus.windows.net/;...`` -> the namespace host."""
    endpoint = connection_string_field(connection_string, "Endpoint")
    if endpoint is None:
        raise ValueError("the Event Hubs connection string has no Endpoint=")
    return endpoint.removeprefix("sb://").rstrip("/")
