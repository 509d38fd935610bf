"""``dbo.Customer``'s change events: both feeds into one bronze change table, and bronze to silver.

Bronze (``bronze/customer_changes``) keeps every change event once, with its position in
the source's commit order (see ``change_positions``) and the row image in SQL Server's
column names and types:

=====================  =========================================================================
column                 meaning
=====================  =========================================================================
``commit_lsn``         LSN of the committing transaction, 20 hex digits
``change_lsn``         LSN of the change inside it (``__$seqval``); null for a snapshot read
``event_serial_no``    Debezium's serial number: 2 for events built from an update, else 1
``operation``          ``c`` create, ``u`` update, ``d`` delete, ``r`` snapshot read
``change_position``    the whole order as one sortable string
``commit_time``        the transaction's commit time, ERP wall clock, whole milliseconds
``before_image``       an update's row before the change, as JSON (null for c/d/r)
``update_mask``        SQL Server's ``__$update_mask`` as hex (SQL Server feed only)
``command_id``         SQL Server's ``__$command_id`` (SQL Server feed only)
``_feed``              ``sqlserver`` or ``debezium``
``_source``            the database, or the file / topic-partition-offset the event came from
``_ingested_at``       when this run landed it
``CustomerID`` ...     the row image: after the change, or for a delete the deleted row
=====================  =========================================================================

Both feeds first become *pairs* (``before`` and ``after`` row structs per event, with the
position columns); :func:`events_from_pairs` turns pairs into bronze events the same way for
both. A primary-key update (before and after keys differ) becomes a delete of the old key
(the old row as its image) and a create of the new one (no before image), as Debezium
itself emits it.

The commit time is cut to whole milliseconds: Debezium carries it as epoch milliseconds
(``source.ts_ms``), and SQL Server's ``tran_end_time`` is a ``datetime`` (1/300 s), so both
feeds agree on it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

# The CDC columns of a SQL Server change table, as the source layer returns them.
from mssql_lakehouse.lib.sources.extract import (
    CDC_COMMAND_ID,
    CDC_COMMIT_TIME,
    CDC_OPERATION,
    CDC_SEQVAL,
    CDC_START_LSN,
    CDC_UPDATE_MASK,
)
from mssql_lakehouse.lib.transforms.change_positions import (
    OPERATIONS,
    change_position,
    lsn_from_binary,
    truncate_to_millisecond,
)
from mssql_lakehouse.lib.transforms.naming import snake_case

SOURCE_TABLE = "dbo.Customer"
CAPTURE_INSTANCE = "dbo_Customer"
KEY = "CustomerID"
SILVER_KEY = "customer_id"


@dataclass(frozen=True)
class DeclaredColumn:
    name: str
    sql_type: str
    spark_type: str


CUSTOMER_COLUMNS: tuple[DeclaredColumn, ...] = (
    DeclaredColumn("CustomerID", "int", "int"),
    DeclaredColumn("FirstName", "nvarchar(50)", "string"),
    DeclaredColumn("LastName", "nvarchar(50)", "string"),
    DeclaredColumn("Email", "nvarchar(256)", "string"),
    DeclaredColumn("City", "nvarchar(50)", "string"),
    DeclaredColumn("CountryRegion", "nchar(2)", "string"),
    DeclaredColumn("CreditLimit", "money", "decimal(19,4)"),
    DeclaredColumn("ModifiedDate", "datetime2(7)", "timestamp_ntz"),
)
DECLARED_SQL_TYPES: dict[str, str] = {c.name: c.sql_type for c in CUSTOMER_COLUMNS}
DECLARED_SPARK_TYPES: dict[str, str] = {c.name: c.spark_type for c in CUSTOMER_COLUMNS}

DECODE_ERROR = "decode_error"
"""Transient column (never written to bronze): fields whose value did not decode to their type."""

EVENT_COLUMNS = (
    "commit_lsn",
    "change_lsn",
    "event_serial_no",
    "operation",
    "change_position",
    "commit_time",
    "before_image",
    "update_mask",
    "command_id",
    "_feed",
    "_source",
    "_ingested_at",
    DECODE_ERROR,
)
"""Bronze columns that describe the event; every other bronze column is a source column."""

PAIR_COLUMNS = (
    "commit_lsn",
    "change_lsn",
    "event_serial_no",
    "operation",
    "commit_time",
    "before",
    "after",
    "update_mask",
    "command_id",
    "_source",
    DECODE_ERROR,
)


def source_columns(df: DataFrame) -> list[str]:
    """The row-image columns of a bronze frame, in table order."""
    return [c for c in df.columns if c not in EVENT_COLUMNS]


def typed_image(columns: Sequence[str], image: Column | None = None) -> Column:
    """A struct of the row's columns, declared columns cast to their declared Spark types."""

    def ref(name: str) -> Column:
        return image.getField(name) if image is not None else F.col(f"`{name}`")

    return F.struct(
        *[(ref(c).cast(DECLARED_SPARK_TYPES[c]) if c in DECLARED_SPARK_TYPES else ref(c)).alias(c) for c in columns]
    )


# -- SQL Server CDC rows -> pairs ---------------------------------------------------------------


def sqlserver_pairs(rows: DataFrame, source: str) -> DataFrame:
    """Change-table rows (``cdc.fn_cdc_get_all_changes_*(..., N'all update old')`` shape) -> pairs.

    An update is two rows with the same ``__$start_lsn`` and ``__$seqval``: operation 3
    (before) and 4 (after); they become one pair. Without the operation-3 rows an update
    still lands, with no before image.
    """
    columns = [c for c in rows.columns if not c.startswith("__$")]
    op = F.col(CDC_OPERATION)
    image = typed_image(columns)
    command_id = F.col(CDC_COMMAND_ID).cast("int") if CDC_COMMAND_ID in rows.columns else F.lit(None).cast("int")
    base = rows.select(
        lsn_from_binary(F.col(f"`{CDC_START_LSN}`")).alias("commit_lsn"),
        lsn_from_binary(F.col(f"`{CDC_SEQVAL}`")).alias("change_lsn"),
        op.cast("int").alias("cdc_operation"),
        truncate_to_millisecond(F.col(f"`{CDC_COMMIT_TIME}`").cast("timestamp_ntz")).alias("commit_time"),
        image.alias("row"),
        F.upper(F.hex(F.col(f"`{CDC_UPDATE_MASK}`"))).alias("update_mask"),
        command_id.alias("command_id"),
    )
    befores = base.where("cdc_operation = 3").select("commit_lsn", "change_lsn", F.col("row").alias("before_row"))
    changes = base.where("cdc_operation IN (1, 2, 4)").join(befores, ["commit_lsn", "change_lsn"], "left")
    cdc_op = F.col("cdc_operation")
    return changes.select(
        "commit_lsn",
        "change_lsn",
        F.when(cdc_op == 4, F.lit(2)).otherwise(F.lit(1)).cast("bigint").alias("event_serial_no"),
        F.when(cdc_op == 1, "d").when(cdc_op == 2, "c").otherwise("u").alias("operation"),
        "commit_time",
        F.when(cdc_op == 1, F.col("row")).when(cdc_op == 4, F.col("before_row")).alias("before"),
        F.when(cdc_op != 1, F.col("row")).alias("after"),
        "update_mask",
        "command_id",
        F.lit(source).alias("_source"),
    )


def snapshot_pairs(rows: DataFrame, snapshot_lsn: str, snapshot_time: dt.datetime, source: str) -> DataFrame:
    """A full read of the table -> one snapshot read (``r``) pair per row, positioned at ``snapshot_lsn``.

    The read shows the table as of that LSN or later (the LSN is read first), so a change
    racing the read sorts after the snapshot and is applied again, never lost - as
    Debezium's own initial snapshot does.
    """
    columns = [c for c in rows.columns if not c.startswith("__$")]
    image = typed_image(columns)
    return rows.select(
        F.lit(snapshot_lsn).alias("commit_lsn"),
        F.lit(None).cast("string").alias("change_lsn"),
        F.lit(None).cast("bigint").alias("event_serial_no"),
        F.lit("r").alias("operation"),
        truncate_to_millisecond(F.lit(snapshot_time.strftime("%Y-%m-%d %H:%M:%S.%f")).cast("timestamp_ntz")).alias(
            "commit_time"
        ),
        F.when(F.lit(False), image).alias("before"),  # a null of the image's type
        image.alias("after"),
        F.lit(None).cast("string").alias("update_mask"),
        F.lit(None).cast("int").alias("command_id"),
        F.lit(source).alias("_source"),
    )


# -- pairs -> bronze events ---------------------------------------------------------------------


def events_from_pairs(pairs: DataFrame, feed: str, ingested_at: Column | None = None) -> DataFrame:
    """Pairs -> bronze events: one row image per event, positions, a primary-key update split in two."""
    image_fields = _struct_fields(pairs, "after") or _struct_fields(pairs, "before")
    if DECODE_ERROR not in pairs.columns:
        pairs = pairs.withColumn(DECODE_ERROR, F.lit(None).cast("string"))
    key_changed = F.coalesce(
        (F.col("operation") == "u") & (F.col(f"before.{KEY}") != F.col(f"after.{KEY}")), F.lit(False)
    )
    no_text = F.lit(None).cast("string")

    def event(operation: Column, image: Column, before_image: Column) -> Column:
        return F.struct(operation.alias("operation"), image.alias("image"), before_image.alias("before_image"))

    # One pass: each pair yields its event, or a primary-key update its delete and create.
    plain = event(
        F.col("operation"),
        F.when(F.col("operation") == "d", F.col("before")).otherwise(F.col("after")),
        F.when((F.col("operation") == "u") & F.col("before").isNotNull(), F.to_json(F.col("before"))),
    )
    split = F.array(event(F.lit("d"), F.col("before"), no_text), event(F.lit("c"), F.col("after"), no_text))
    exploded = pairs.select("*", F.explode(F.when(key_changed, split).otherwise(F.array(plain))).alias("e"))
    stamped = ingested_at if ingested_at is not None else F.current_timestamp()
    serial = F.col("event_serial_no").cast("bigint")
    return exploded.select(
        "commit_lsn",
        "change_lsn",
        serial.alias("event_serial_no"),
        F.col("e.operation").alias("operation"),
        change_position(F.col("commit_lsn"), F.col("change_lsn"), serial, F.col("e.operation")).alias(
            "change_position"
        ),
        "commit_time",
        F.col("e.before_image").alias("before_image"),
        "update_mask",
        "command_id",
        F.lit(feed).alias("_feed"),
        "_source",
        stamped.alias("_ingested_at"),
        *[F.col(f"e.image.`{c}`").alias(c) for c in image_fields],
        DECODE_ERROR,
    )


def _struct_fields(df: DataFrame, column: str) -> list[str]:
    data_type = df.schema[column].dataType
    return list(data_type.fieldNames()) if hasattr(data_type, "fieldNames") else []


# -- validation, duplicates ---------------------------------------------------------------------


def invalid_reason() -> Column:
    """Why an event cannot be placed in commit order or applied, or null if it can."""
    return (
        F.when(F.col(DECODE_ERROR).isNotNull(), F.concat(F.lit("value does not decode: "), F.col(DECODE_ERROR)))
        .when(F.col("operation").isNull() | ~F.col("operation").isin(*OPERATIONS), F.lit("unknown operation"))
        .when(F.col("commit_lsn").isNull(), F.lit("missing or malformed commit LSN"))
        .when(F.col("commit_time").isNull(), F.lit("missing commit time"))
        .when((F.col("operation") != "r") & F.col("change_lsn").isNull(), F.lit("missing or malformed change LSN"))
        .when(F.col(f"`{KEY}`").isNull(), F.lit(f"missing key {KEY}"))
    )


def first_delivery(events: DataFrame) -> DataFrame:
    """One event per position and key: a duplicate delivery (at-least-once feeds) is kept once.

    A primary-key change's delete and create share their LSNs but differ in operation (and
    key), so both stay. Among duplicates the first by source (file name, offset) is kept,
    with the remaining columns breaking ties, so the choice does not depend on Spark.
    """
    tie_breakers = [F.col("_source").asc_nulls_last()] + [
        F.col(f"`{c}`").asc_nulls_last()
        for c in events.columns
        if c not in ("_source", "_ingested_at") and _orderable(events, c)
    ]
    window = Window.partitionBy("change_position", F.col(f"`{KEY}`")).orderBy(*tie_breakers)
    once = events.withColumn("__n", F.row_number().over(window)).where("__n = 1").drop("__n")
    return once.drop(DECODE_ERROR)


def events_no_longer_delivered(landed: DataFrame, delivered: DataFrame) -> DataFrame:
    """Events bronze already holds (``landed``) that a new read of the feed (``delivered``) lacks.

    Writing ``delivered`` over the window would erase them: a pruned or rewritten landing file
    takes its events with it.
    """
    position = ["change_position", KEY]
    return landed.select(*position, "_source").join(delivered.select(*position), position, "left_anti")


def _orderable(df: DataFrame, column: str) -> bool:
    name = df.schema[column].dataType.typeName()
    return name not in ("map", "array", "struct", "variant", "binary")


# -- bronze -> silver-shaped events -------------------------------------------------------------

SILVER_RENAMES = {"CustomerID": SILVER_KEY}


def silver_column(source_column: str) -> str:
    return SILVER_RENAMES.get(source_column, snake_case(source_column))


def business_columns(bronze: DataFrame) -> list[str]:
    """Silver's business columns (snake_case of every source column bronze has), in table order."""
    return [silver_column(c) for c in source_columns(bronze)]


def silver_events(bronze: DataFrame) -> DataFrame:
    """Bronze events with snake_case business columns and just the columns ordering needs."""
    columns = source_columns(bronze)
    return bronze.select(
        "commit_lsn",
        "change_position",
        "operation",
        "commit_time",
        *[
            (F.col(f"`{c}`").cast(DECLARED_SPARK_TYPES[c]) if c in DECLARED_SPARK_TYPES else F.col(f"`{c}`")).alias(
                silver_column(c)
            )
            for c in columns
        ],
    )


def schema_drift(fields_seen: Sequence[str], declared: Mapping[str, str] = DECLARED_SQL_TYPES) -> dict[str, list[str]]:
    """Fields the source sent that are not declared (``added``), and declared ones it did not send."""
    seen = list(fields_seen)
    return {
        "added": [f for f in seen if f not in declared],
        "missing": [c for c in declared if c not in seen],
    }
