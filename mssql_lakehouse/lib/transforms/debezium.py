"""Debezium SQL Server change events (JSON) into before/after row pairs with their positions.

One event per line, in Debezium's envelope::

    {"before": {...} | null, "after": {...} | null, "op": "c|u|d|r", "ts_ms": ...,
     "source": {"commit_lsn": "00000025:00000d98:0025", "change_lsn": "...", "event_serial_no": 1,
                "ts_ms": <commit time, epoch ms>, ...}}

optionally wrapped as ``{"schema": {...}, "payload": <envelope>}`` (Kafka Connect's JSON
converter with ``schemas.enable=true``). Tombstones (a null value, ``null``, an empty
line, or a wrapper whose payload is null) are dropped.

Value encodings follow the connector's settings:

=====================================  ==============================================================
SQL Server type                        event value
=====================================  ==============================================================
datetime2(0-3), datetime, smalldatetime  epoch milliseconds (``io.debezium.time.Timestamp``)
datetime2(4-6)                         epoch microseconds (``io.debezium.time.MicroTimestamp``)
datetime2(7)                           epoch nanoseconds (``io.debezium.time.NanoTimestamp``)
  ... with ``time.precision.mode=connect``   epoch milliseconds for every precision
date                                   days since the epoch
decimal / numeric / money / smallmoney ``decimal.handling.mode=precise``: base64 of the unscaled value's
                                       big-endian two's-complement bytes, scale from the column's type
                                       (money and smallmoney: 4); ``string``: the number as text;
                                       ``double``: a JSON number
=====================================  ==============================================================

Debezium writes wall-clock types (``datetime2``) as if the wall clock were UTC, so they
decode to ``timestamp_ntz`` without any time-zone shift. ``source.ts_ms`` is a true instant
(the commit time); it becomes the ERP's wall-clock time in the configured time zone, the
same clock as SQL Server's ``cdc.lsn_time_mapping``. Spark keeps microseconds: the 7th
digit of a ``datetime2(7)`` is cut, as the JDBC feed cuts it.

When the events carry their Connect schema, each field's schema decides its decoding
(a new column announces its own type). Without it, columns are decoded by their SQL
Server type (see :func:`codec_for_sql_type`); a field of unknown type stays text.
"""

from __future__ import annotations

import datetime as dt
import enum
import glob
import json
import logging
import os
import random
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mssql_lakehouse.lib.sources.redaction import register_spark_secrets
from mssql_lakehouse.lib.transforms.change_positions import lsn_from_debezium, ntz_from_epoch

ENVELOPE_SCHEMA = (
    "struct<before: map<string, string>, after: map<string, string>, op: string, ts_ms: bigint, "
    "source: struct<commit_lsn: string, change_lsn: string, event_serial_no: bigint, ts_ms: bigint, "
    "snapshot: string, db: string, schema: string, table: string>>"
)
WRAPPER_SCHEMA = "struct<schema: string, payload: string>"
CONNECT_SCHEMA = (
    "struct<fields: array<struct<field: string, fields: array<struct<field: string, type: string, "
    "name: string, optional: boolean, parameters: map<string, string>>>>>>"
)


class TimePrecisionMode(str, enum.Enum):
    ADAPTIVE = "adaptive"
    ADAPTIVE_TIME_MICROSECONDS = "adaptive_time_microseconds"
    CONNECT = "connect"


class DecimalHandlingMode(str, enum.Enum):
    PRECISE = "precise"
    STRING = "string"
    DOUBLE = "double"


@dataclass(frozen=True)
class DebeziumEncoding:
    """The connector's value settings (``time.precision.mode``, ``decimal.handling.mode``)."""

    time_precision_mode: TimePrecisionMode = TimePrecisionMode.ADAPTIVE
    decimal_handling_mode: DecimalHandlingMode = DecimalHandlingMode.PRECISE

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_precision_mode", TimePrecisionMode(self.time_precision_mode))
        object.__setattr__(self, "decimal_handling_mode", DecimalHandlingMode(self.decimal_handling_mode))


# -- decoding one field -------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldCodec:
    """How one field's JSON text becomes a typed Spark value.

    ``kind``: ``cast`` (JSON scalar cast to ``spark_type``), ``decimal_bytes`` (base64
    two's-complement unscaled value, ``scale``), ``date_days``, ``epoch_millis``,
    ``epoch_micros``, ``epoch_nanos`` (wall-clock timestamps), ``instant_text`` (ISO-8601
    with offset), ``base64`` (bytes), ``text`` (kept as the JSON text).
    """

    kind: str
    spark_type: str
    scale: int = 0

    def decode(self, raw: Column) -> Column:
        """The typed value; null where the text does not decode (see :func:`undecodable`)."""
        if self.kind == "cast":
            return raw.try_cast(self.spark_type)
        if self.kind == "decimal_bytes":
            return decimal_from_base64(raw, self.scale).try_cast(self.spark_type)
        if self.kind == "date_days":
            return F.date_add(F.lit("1970-01-01").cast("date"), raw.try_cast("int"))
        if self.kind == "epoch_millis":
            return ntz_from_epoch(raw.try_cast("bigint"), "MILLISECOND")
        if self.kind == "epoch_micros":
            return ntz_from_epoch(raw.try_cast("bigint"), "MICROSECOND")
        if self.kind == "epoch_nanos":
            # Exact arithmetic: nanoseconds after 2262 do not fit a bigint, and a double would lose
            # the last microseconds. Floor, so an instant before the epoch stays in its microsecond.
            micros = F.floor(raw.try_cast("decimal(38,0)") / F.lit(1000)).try_cast("bigint")
            return ntz_from_epoch(micros, "MICROSECOND")
        if self.kind == "instant_text":
            return F.try_to_timestamp(raw)
        if self.kind == "base64":
            return F.try_to_binary(raw, F.lit("base64"))
        return raw


TEXT = FieldCodec("text", "string")

_SQL_TYPE = re.compile(r"^\s*([a-z0-9_]+)\s*(?:\(\s*(\d+|max)\s*(?:,\s*(\d+)\s*)?\))?\s*$", re.IGNORECASE)
_INTEGERS = {"tinyint": "smallint", "smallint": "smallint", "int": "int", "bigint": "bigint"}
_STRINGS = {"char", "varchar", "nchar", "nvarchar", "text", "ntext", "sysname", "uniqueidentifier", "xml", "time"}


def _decimal_codec(precision: int, scale: int, encoding: DebeziumEncoding) -> FieldCodec:
    spark_type = f"decimal({precision},{scale})"
    if encoding.decimal_handling_mode is DecimalHandlingMode.PRECISE:
        return FieldCodec("decimal_bytes", spark_type, scale)
    return FieldCodec("cast", spark_type, scale)


def codec_for_sql_type(sql_type: str, encoding: DebeziumEncoding) -> FieldCodec:
    """The decoding of a column of a SQL Server type, by the connector's settings (no schema given).

    Spark types match the JDBC feed's type mapping (``tinyint`` -> smallint, ``money`` ->
    decimal(19,4), ``datetime2`` -> timestamp_ntz, ...), so both feeds land the same types.
    """
    match = _SQL_TYPE.match(sql_type)
    if not match:
        raise ValueError(f"not a SQL Server type: {sql_type!r}")
    base = match.group(1).lower()
    length = match.group(2)
    scale = match.group(3)
    if base in _INTEGERS:
        return FieldCodec("cast", _INTEGERS[base])
    if base == "bit":
        return FieldCodec("cast", "boolean")
    if base in ("float", "real"):
        return FieldCodec("cast", "double" if base == "float" else "float")
    if base == "money":
        return _decimal_codec(19, 4, encoding)
    if base == "smallmoney":
        return _decimal_codec(10, 4, encoding)
    if base in ("decimal", "numeric"):
        precision = int(length) if length and length != "max" else 18
        return _decimal_codec(precision, int(scale or 0), encoding)
    if base == "date":
        return FieldCodec("date_days", "date")
    if base in ("datetime", "smalldatetime"):
        return FieldCodec("epoch_millis", "timestamp_ntz")
    if base == "datetime2":
        if encoding.time_precision_mode is TimePrecisionMode.CONNECT:
            return FieldCodec("epoch_millis", "timestamp_ntz")
        precision = int(length) if length and length != "max" else 7
        if precision <= 3:
            return FieldCodec("epoch_millis", "timestamp_ntz")
        if precision <= 6:
            return FieldCodec("epoch_micros", "timestamp_ntz")
        return FieldCodec("epoch_nanos", "timestamp_ntz")
    if base == "datetimeoffset":
        return FieldCodec("instant_text", "timestamp")
    if base in ("binary", "varbinary", "image", "rowversion", "timestamp"):
        return FieldCodec("base64", "binary")
    if base in _STRINGS:
        return TEXT
    raise ValueError(f"no Debezium decoding for SQL Server type {sql_type!r}")


_CONNECT_NAMED = {
    "io.debezium.time.Date": FieldCodec("date_days", "date"),
    "org.apache.kafka.connect.data.Date": FieldCodec("date_days", "date"),
    "io.debezium.time.Timestamp": FieldCodec("epoch_millis", "timestamp_ntz"),
    "org.apache.kafka.connect.data.Timestamp": FieldCodec("epoch_millis", "timestamp_ntz"),
    "io.debezium.time.MicroTimestamp": FieldCodec("epoch_micros", "timestamp_ntz"),
    "io.debezium.time.NanoTimestamp": FieldCodec("epoch_nanos", "timestamp_ntz"),
    "io.debezium.time.ZonedTimestamp": FieldCodec("instant_text", "timestamp"),
}
_CONNECT_PLAIN = {
    "int8": "smallint",
    "int16": "smallint",
    "int32": "int",
    "int64": "bigint",
    "float32": "float",
    "float64": "double",
    "boolean": "boolean",
    "string": "string",
}


def codec_for_connect_schema(
    connect_type: str, name: str | None, parameters: Mapping[str, str] | None, fallback: FieldCodec | None = None
) -> FieldCodec:
    """The decoding a field's Kafka Connect schema announces.

    A decimal's precision is not always announced (``connect.decimal.precision``); the
    column's declared type (``fallback``) then gives it.
    """
    parameters = parameters or {}
    if name == "org.apache.kafka.connect.data.Decimal":
        scale = int(parameters.get("scale", fallback.scale if fallback else 0))
        precision = parameters.get("connect.decimal.precision")
        if precision is None and fallback is not None and fallback.spark_type.startswith("decimal"):
            spark_type = fallback.spark_type
        else:
            spark_type = f"decimal({int(precision or 38)},{scale})"
        return FieldCodec("decimal_bytes", spark_type, scale)
    if name in _CONNECT_NAMED:
        return _CONNECT_NAMED[name]
    if name and name.startswith("io.debezium.time."):
        return TEXT  # times of day and intervals: kept as the connector wrote them
    if connect_type == "bytes":
        return FieldCodec("base64", "binary")
    if (
        connect_type in ("string", "float64", "float32")
        and fallback is not None
        and fallback.spark_type.startswith("decimal")
    ):
        # decimal.handling.mode=string/double: the column's declared type keeps the scale.
        return FieldCodec("cast", fallback.spark_type, fallback.scale)
    if connect_type in _CONNECT_PLAIN:
        return FieldCodec("cast", _CONNECT_PLAIN[connect_type])
    return TEXT


def decimal_from_base64(raw: Column, scale: int) -> Column:
    """Base64 of a big-endian two's-complement unscaled integer (up to 16 bytes) -> decimal with ``scale``.

    Exact, without floating point: the bytes are sign-extended to 16 and read as two 64-bit
    halves (``conv`` reads hex as unsigned), the high half made signed; the scale is applied
    by parsing ``<unscaled>E-<scale>``. Not base64, or more than 16 bytes: null.
    """
    hexed = F.hex(F.try_to_binary(raw, F.lit("base64")))
    negative = F.substring(hexed, 1, 1).isin(*"89ABCDEF")
    padded = F.when(negative, F.lpad(hexed, 32, "F")).otherwise(F.lpad(hexed, 32, "0"))
    high = F.conv(F.substring(padded, 1, 16), 16, 10).cast("decimal(20,0)")
    low = F.conv(F.substring(padded, 17, 16), 16, 10).cast("decimal(20,0)")
    two_64 = F.lit(Decimal(2**64))
    signed_high = F.when(negative, high - two_64).otherwise(high)
    unscaled = F.try_add(F.try_multiply(signed_high, two_64), low)
    text = F.concat(unscaled.cast("string"), F.lit(f"E-{scale}"))
    usable = (F.length(hexed) > 0) & (F.length(hexed) <= 32)
    return F.when(usable, text.try_cast(f"decimal(38,{min(scale, 38)})"))


# -- parsing events ------------------------------------------------------------------------------


def parse_envelopes(lines: DataFrame) -> DataFrame:
    """``value`` (one JSON event) -> the envelope's fields, with or without the schema wrapper.

    Keeps the input columns and adds ``connect_schema`` (the wrapper's schema text, or
    null), ``before``, ``after`` (maps of field -> JSON text), ``op``, ``source`` and
    ``is_tombstone``. A line that is neither an event nor a tombstone has a null ``op``.
    """
    keys = F.json_object_keys(F.col("value"))
    wrapped = F.coalesce(F.array_contains(keys, "payload"), F.lit(False))
    wrapper = F.from_json(F.col("value"), WRAPPER_SCHEMA)
    envelope_text = F.when(wrapped, wrapper.getField("payload")).otherwise(F.col("value"))
    envelope = F.from_json(envelope_text, ENVELOPE_SCHEMA)
    blank = F.col("value").isNull() | F.trim(F.col("value")).isin("", "null")
    return lines.select(
        "*",
        F.when(wrapped, wrapper.getField("schema")).alias("connect_schema"),
        envelope.getField("before").alias("before"),
        envelope.getField("after").alias("after"),
        envelope.getField("op").alias("op"),
        envelope.getField("source").alias("source"),
        (blank | (wrapped & wrapper.getField("payload").isNull())).alias("is_tombstone"),
    )


@dataclass(frozen=True)
class FieldReport:
    """What the events of a batch said about their fields."""

    present: tuple[str, ...] = ()
    """Fields seen in any before/after image, in first-seen order of the declared columns then by name."""
    codecs: dict[str, FieldCodec] = field(default_factory=dict)
    """The decoding chosen for every present or declared field."""
    conflicting_schemas: tuple[str, ...] = ()
    """Fields whose announced Connect schema differed between events (the last by name wins)."""


def field_report(events: DataFrame, declared: Mapping[str, str], encoding: DebeziumEncoding) -> FieldReport:
    """Collect the fields the batch's events carry and decide how each is decoded.

    ``declared``: the table's columns and SQL Server types, in table order.
    """
    keys = (
        events.select(
            F.explode(
                F.array_union(F.coalesce(F.map_keys("before"), F.array()), F.coalesce(F.map_keys("after"), F.array()))
            ).alias("k")
        )
        .distinct()
        .collect()
    )
    present = {r["k"] for r in keys}
    announced = _announced_fields(events)
    codecs: dict[str, FieldCodec] = {}
    conflicts = []
    for name in [*declared, *sorted(present - set(declared))]:
        fallback = codec_for_sql_type(declared[name], encoding) if name in declared else None
        options = announced.get(name, [])
        if len(options) > 1:
            conflicts.append(name)
        if options:
            connect_type, connect_name, parameters = options[-1]
            codecs[name] = codec_for_connect_schema(connect_type, connect_name, parameters, fallback)
        else:
            codecs[name] = fallback or TEXT
    ordered = [c for c in declared if c in present] + sorted(present - set(declared))
    return FieldReport(tuple(ordered), codecs, tuple(conflicts))


def _announced_fields(events: DataFrame) -> dict[str, list[tuple[str, str | None, dict[str, str]]]]:
    """Per field, the distinct (type, name, parameters) the Connect schemas announced for the row images."""
    schemas = events.where(F.col("connect_schema").isNotNull()).select(
        F.from_json("connect_schema", CONNECT_SCHEMA).alias("s")
    )
    images = schemas.select(F.explode("s.fields").alias("f")).where(F.col("f.field").isin("before", "after"))
    fields = images.select(F.explode("f.fields").alias("c")).select(
        F.col("c.field").alias("field"),
        F.col("c.type").alias("type"),
        F.col("c.name").alias("name"),
        F.to_json(F.col("c.parameters")).alias("parameters"),
    )
    out: dict[str, list[tuple[str, str | None, dict[str, str]]]] = {}
    for row in sorted(
        fields.distinct().collect(), key=lambda r: (r["field"], r["type"] or "", r["name"] or "", r["parameters"] or "")
    ):
        parameters = json.loads(row["parameters"]) if row["parameters"] else {}
        out.setdefault(row["field"], []).append((row["type"], row["name"], parameters))
    return out


def decoded_image(image: Column, report: FieldReport) -> Column:
    """A map image (field -> JSON text) as a struct of typed columns, one per known field."""
    return F.struct(*[report.codecs[name].decode(image.getItem(name)).alias(name) for name in report.codecs])


def undecodable(report: FieldReport) -> Column:
    """Fields (``before.X``/``after.X``) whose text did not decode to their type, comma-separated, or null.

    Reads the decoded structs (``before``, ``after``) next to the raw maps (``raw_before``,
    ``raw_after``): decoding each value once.
    """
    failures = [
        F.when(
            F.col(f"raw_{side}").getItem(name).isNotNull() & F.col(side).getField(name).isNull(),
            F.lit(f"{side}.{name}"),
        )
        for side in ("before", "after")
        for name in report.codecs
    ]
    if not failures:
        return F.lit(None).cast("string")
    listed = F.concat_ws(", ", *failures)
    return F.when(listed != "", listed)


def commit_time_of_events(time_zone: str) -> Column:
    """``source.ts_ms`` (the commit instant) as the ERP's wall-clock time in ``time_zone``."""
    commit_utc = ntz_from_epoch(F.col("source.ts_ms"), "MILLISECOND")
    return F.convert_timezone(F.lit("UTC"), F.lit(time_zone), commit_utc)


def debezium_pairs(events: DataFrame, report: FieldReport, time_zone: str) -> DataFrame:
    """Parsed events -> the pair shape shared by both feeds (see ``customer_changes``).

    ``decode_error`` names the fields whose value did not decode (such events are quarantined).
    """
    decoded = events.select(
        lsn_from_debezium(F.col("source.commit_lsn")).alias("commit_lsn"),
        lsn_from_debezium(F.col("source.change_lsn")).alias("change_lsn"),
        F.col("source.event_serial_no").alias("event_serial_no"),
        F.col("op").alias("operation"),
        commit_time_of_events(time_zone).alias("commit_time"),
        F.when(F.col("before").isNotNull(), decoded_image(F.col("before"), report)).alias("before"),
        F.when(F.col("after").isNotNull(), decoded_image(F.col("after"), report)).alias("after"),
        F.lit(None).cast("string").alias("update_mask"),
        F.lit(None).cast("int").alias("command_id"),
        F.col("_source"),
        F.col("before").alias("raw_before"),
        F.col("after").alias("raw_after"),
    )
    return decoded.withColumn("decode_error", undecodable(report)).drop("raw_before", "raw_after")


# -- where the events come from ------------------------------------------------------------------

# The errors of a landing that raced another on the same checkpoint and raw table: Spark's when a second
# query writes the checkpoint's metadata, the source's initial offsets or a batch's offsets or commit;
# Delta's when both commit to the table (the first batch of a new table creates it). Delta's idempotent
# stream commits make starting again from the checkpoint safe.
CONCURRENT_LANDING = (
    "CONCURRENT_STREAM_LOG_UPDATE",
    "Multiple streaming queries are concurrently using",
    "DELTA_PROTOCOL_CHANGED",
    "DELTA_METADATA_CHANGED",
    "DELTA_CONCURRENT_TRANSACTION",
    "DELTA_CONCURRENT_APPEND",
)
log = logging.getLogger(__name__)

LINES_SCHEMA = T.StructType(
    [
        T.StructField("value", T.StringType()),
        T.StructField("_source", T.StringType()),
        T.StructField("_landed_at", T.TimestampType()),
    ]
)


class DebeziumSourceKind(str, enum.Enum):
    FILES = "files"
    """JSON files (``*.json``, one event per line) in a folder or container: read as a batch."""
    AUTOLOADER = "autoloader"
    """Databricks Auto Loader over the landing container, landed into a raw table (``availableNow``)."""
    KAFKA = "kafka"
    """A Kafka topic, landed into a raw table with Structured Streaming (``availableNow``)."""
    EVENTHUBS = "eventhubs"
    """An Azure Event Hub through its Kafka endpoint, landed like Kafka."""


@dataclass(frozen=True)
class DebeziumSource:
    """Where Debezium's events are read from.

    ``path``: the landing folder (files, Auto Loader). ``raw_table`` and ``checkpoint``:
    for the streaming kinds, the Delta folder the raw events are appended to and the stream's
    checkpoint (both in the configured storage). ``kafka_options``: extra ``kafka.*``
    options; the Event Hubs connection string is passed in ``secret`` at run time only.
    ``shaded_kafka_client``: Spark's Kafka client is Databricks Runtime's, relocated under
    ``kafkashaded.`` (on Databricks), not open-source Spark's.
    """

    kind: DebeziumSourceKind = DebeziumSourceKind.FILES
    path: str = ""
    raw_table: str = ""
    checkpoint: str = ""
    bootstrap_servers: str = ""
    topic: str = ""
    kafka_options: Mapping[str, str] = field(default_factory=dict)
    secret: str | None = field(default=None, repr=False)
    shaded_kafka_client: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", DebeziumSourceKind(self.kind))
        if self.kind is not DebeziumSourceKind.FILES and not (self.raw_table and self.checkpoint):
            raise ValueError(f"Debezium source {self.kind.value!r} needs raw_table and checkpoint locations")
        if self.kind in (DebeziumSourceKind.KAFKA, DebeziumSourceKind.EVENTHUBS) and not (
            self.bootstrap_servers and self.topic
        ):
            raise ValueError(f"Debezium source {self.kind.value!r} needs bootstrap_servers and topic")
        if self.kind is DebeziumSourceKind.AUTOLOADER and not self.path:
            raise ValueError("Debezium source 'autoloader' needs the landing path")

    @property
    def local_folder(self) -> str | None:
        """The landing folder of landed files on this machine's file system (None for any other source)."""
        return self.path if self.kind is DebeziumSourceKind.FILES and "://" not in self.path else None


def landed_files(folder: str) -> list[str]:
    """The ``*.json`` files of a local landing folder, sorted (an absent folder has none)."""
    return sorted(glob.glob(os.path.join(glob.escape(folder), "*.json")))


def file_signatures(paths: Sequence[str]) -> dict[str, str]:
    """File name -> ``size:modification time (ns)``: a file that changes gets a new signature."""
    signatures = {}
    for path in paths:
        stat = os.stat(path)
        signatures[os.path.basename(path)] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return signatures


def read_event_lines(spark: SparkSession, source: DebeziumSource, files: Sequence[str] | None = None) -> DataFrame:
    """Every event line the source holds, as ``value`` + ``_source`` (file path or topic/partition/offset)
    + ``_landed_at`` (when a stream appended it to the raw table; null for files).

    ``files``: a local landing folder's files as the caller listed them (default: listed here).
    For the streaming kinds this first lands what is new (``availableNow``) into the raw table,
    then reads the raw table; the partitioned bronze asset filters by commit time afterwards.
    """
    if source.kind is DebeziumSourceKind.FILES:
        if source.local_folder:
            files = landed_files(source.local_folder) if files is None else list(files)
            if not files:
                return spark.createDataFrame([], LINES_SCHEMA)
            reader = spark.read.text(files)
        else:
            reader = spark.read.option("pathGlobFilter", "*.json").text(source.path)
        return reader.select(
            F.col("value"),
            F.col("_metadata.file_path").alias("_source"),
            F.lit(None).cast("timestamp").alias("_landed_at"),
        )
    land_new_events(spark, source)
    return spark.read.format("delta").load(source.raw_table).select("value", "_source", "_landed_at")


def kafka_options(source: DebeziumSource) -> dict[str, str]:
    """Options of Spark's Kafka source; Event Hubs uses SASL PLAIN with its connection string.

    The login module is named as the source's Kafka client has it (see ``shaded_kafka_client``). The connection
    string (as given, as quoted in the JAAS option, and its key alone) is registered for redaction
    before it is put into the options.
    """
    options = {
        "kafka.bootstrap.servers": source.bootstrap_servers,
        "subscribe": source.topic,
        "startingOffsets": "earliest",
        "failOnDataLoss": "true",
        **dict(source.kafka_options),
    }
    if source.kind is DebeziumSourceKind.EVENTHUBS:
        if not source.secret:
            raise ValueError("Event Hubs needs its connection string (secret) at run time")
        module = "org.apache.kafka.common.security.plain.PlainLoginModule"
        module = f"kafkashaded.{module}" if source.shaded_kafka_client else module
        secret = source.secret.replace("\\", "\\\\").replace('"', '\\"')
        register_spark_secrets((source.secret, secret, connection_string_field(source.secret, "SharedAccessKey")))
        options.update(
            {
                "kafka.security.protocol": "SASL_SSL",
                "kafka.sasl.mechanism": "PLAIN",
                "kafka.sasl.jaas.config": f'{module} required username="$ConnectionString" password="{secret}";',
            }
        )
    return options


def connection_string_field(connection_string: str, field: str) -> str | None:
    """The value of ``field=`` (case-insensitive) in an Event Hubs connection string, None without one."""
    for part in connection_string.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == field.lower():
            return value.strip()
    return None


def event_stream(spark: SparkSession, source: DebeziumSource) -> DataFrame:
    """The source as a stream of ``value`` + ``_source`` (from Kafka, also the ``_kafka_*`` lineage columns)."""
    if source.kind is DebeziumSourceKind.AUTOLOADER:
        stream = (
            spark.readStream.format("cloudFiles")
            .option("cloudFiles.format", "text")
            .option("pathGlobFilter", "*.json")
            .load(source.path)
        )
        return stream.select("value", F.col("_metadata.file_path").alias("_source"))
    if source.kind is DebeziumSourceKind.FILES:
        # Not used by the assets (files are read as a batch); lets the streaming path run locally.
        stream = spark.readStream.option("pathGlobFilter", "*.json").text(source.path)
        return stream.select("value", F.col("_metadata.file_path").alias("_source"))
    stream = spark.readStream.format("kafka").options(**kafka_options(source)).load()
    return stream.select(
        F.col("value").cast("string").alias("value"),
        F.concat_ws("/", F.col("topic"), F.col("partition").cast("string"), F.col("offset").cast("string")).alias(
            "_source"
        ),
        # Lineage: where in the topic each event was read, and when the broker appended it.
        F.col("topic").alias("_kafka_topic"),
        F.col("partition").alias("_kafka_partition"),
        F.col("offset").alias("_kafka_offset"),
        F.col("timestamp").alias("_kafka_timestamp"),
    )


def land_new_events(
    spark: SparkSession, source: DebeziumSource, stream: DataFrame | None = None, wait_for_others: float = 900.0
) -> None:
    """Append every event not landed yet to the raw table, and stop (``trigger(availableNow=True)``).

    The checkpoint makes each event land once even across failures: a re-run continues
    where the last one committed. Two runs landing at once share the checkpoint and the table, and
    the one that writes second fails (see ``CONCURRENT_LANDING``); it starts again from the
    checkpoint, after the other's batches, for up to ``wait_for_others`` seconds.
    """
    stream = stream if stream is not None else event_stream(spark, source)
    deadline = time.monotonic() + wait_for_others
    while True:
        try:
            _land_available(stream, source)
            return
        except Exception as error:  # py4j's or pyspark's, depending on where the race is lost
            if not any(marker in str(error) for marker in CONCURRENT_LANDING) or time.monotonic() > deadline:
                raise
            log.info("Another run is landing %s; landing again after its batch", source.raw_table)
            time.sleep(random.uniform(1.0, 3.0))


def _land_available(stream: DataFrame, source: DebeziumSource) -> None:
    query = (
        stream.withColumn("_landed_at", F.current_timestamp())
        .writeStream.format("delta")
        .option("checkpointLocation", source.checkpoint)
        .outputMode("append")
        .trigger(availableNow=True)
        .start(source.raw_table)
    )
    query.awaitTermination()
    if query.exception() is not None:  # pragma: no cover - awaitTermination raises first
        raise RuntimeError(str(query.exception()))


def event_commit_dates(lines: Sequence[str], time_zone: str) -> list[str]:
    """Commit dates (``YYYY-MM-DD`` in ``time_zone``) of events given as JSON lines; plain Python.

    For sensors, which must not start Spark: tombstones and unreadable lines are skipped.
    """
    zone = ZoneInfo(time_zone)
    dates = set()
    for line in lines:
        line = line.strip()
        if not line or line == "null":
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and ("payload" in event or "schema" in event):
            event = event.get("payload")
        if not isinstance(event, dict):
            continue
        ts_ms = (event.get("source") or {}).get("ts_ms")
        if not isinstance(ts_ms, int):
            continue
        moment = dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC).astimezone(zone)
        dates.add(moment.date().isoformat())
    return sorted(dates)
