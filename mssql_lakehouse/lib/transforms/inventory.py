"""Regional inventory from landed export files to on-hand positions per SKU.

An export file holds one region's ``Production.ProductInventory`` at a moment (``SnapshotTime``).
Bronze conforms every file to the export contract's types (a CSV's text and a parquet's typed
values land alike) and keeps columns the contract does not know as text, so a new column in a
later export is added, never a type conflict. Silver is one row per (region, product, location):
the latest by snapshot time, then ``ModifiedDate``, so an older snapshot never replaces a newer
one. Gold sums a day's snapshot per SKU and compares it with the trailing week's sales.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mssql_lakehouse.lib.io.delta_io_manager import latest_per_key
from mssql_lakehouse.lib.transforms.sku_metrics import ROLLING_DAYS

# The columns every export carries, with the types bronze lands them as (SQL Server's, mapped).
EXPORT_CONTRACT: dict[str, str] = {
    "ProductID": "int",
    "LocationID": "smallint",
    "Shelf": "string",
    "Bin": "smallint",
    "Quantity": "smallint",
    "rowguid": "string",
    "ModifiedDate": "timestamp_ntz",
    "SnapshotTime": "timestamp_ntz",
}
FILE_COLUMNS = {
    "_file_name": "string",
    "_file_path": "string",
    "_file_size": "bigint",
    "_file_modified_at": "timestamp",
}
PARTITION_COLUMNS = {"_landing_date": "date", "_region": "string", "_ingested_at": "timestamp"}

INVENTORY_KEYS = ["region", "product_id", "location_id"]
# Newest snapshot first; within one snapshot the row's own modification time.
SNAPSHOT_ORDER = ["snapshot_time", "modified_date"]


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _try_cast(name: str, sql_type: str):
    return F.expr(f"try_cast({_quoted(name)} AS {sql_type})")


def new_columns(raw: DataFrame) -> list[str]:
    """Columns of a file that the export contract does not have (metadata columns aside)."""
    return [c for c in raw.columns if c not in EXPORT_CONTRACT and not c.startswith("_")]


def file_problems(raw: DataFrame) -> list[str]:
    """Why a file's rows cannot land: contract columns missing, or values not of the contract's type."""
    missing = [c for c in EXPORT_CONTRACT if c not in raw.columns]
    problems = [f"missing column(s) {', '.join(missing)}"] if missing else []
    # Only columns not already of the contract's type (a CSV's text) can hold values that do not fit.
    types = {f.name: f.dataType.simpleString() for f in raw.schema.fields}
    present = [c for c in EXPORT_CONTRACT if c in raw.columns and types[c] != EXPORT_CONTRACT[c]]
    if not present:
        return problems
    failed = raw.select(
        [
            F.sum((F.col(_quoted(c)).isNotNull() & _try_cast(c, EXPORT_CONTRACT[c]).isNull()).cast("int")).alias(c)
            for c in present
        ]
    ).collect()[0]
    problems += [f"{failed[c]} value(s) of {c} are not {EXPORT_CONTRACT[c]}" for c in present if failed[c]]
    return problems


def conform(raw: DataFrame) -> DataFrame:
    """Contract columns in the contract's types, then new columns as text, then the file and partition columns."""
    contract = [_try_cast(c, t).alias(c) for c, t in EXPORT_CONTRACT.items()]
    extra = [F.col(_quoted(c)).cast("string").alias(c) for c in new_columns(raw)]
    kept = [F.col(c).cast(t).alias(c) for c, t in {**FILE_COLUMNS, **PARTITION_COLUMNS}.items() if c in raw.columns]
    return raw.select(*contract, *extra, *kept)


def with_file_columns(raw: DataFrame) -> DataFrame:
    """File name, path, size and modification time from a file source's hidden ``_metadata`` column."""
    return (
        raw.withColumn("_file_name", F.col("_metadata.file_name"))
        .withColumn("_file_path", F.col("_metadata.file_path"))
        .withColumn("_file_size", F.col("_metadata.file_size").cast("bigint"))
        .withColumn("_file_modified_at", F.col("_metadata.file_modification_time"))
        .drop("_metadata")
    )


def with_landing(df: DataFrame, day: dt.date, region: str, ingested_at: dt.datetime | None) -> DataFrame:
    """The partition a file landed in (its day folder and region) and when it was ingested.

    ``ingested_at`` None keeps the frame's own ``_ingested_at`` (Auto Loader stamps rows as it reads them).
    """
    landed = df.withColumn("_landing_date", F.lit(day)).withColumn("_region", F.lit(region))
    return landed if ingested_at is None else landed.withColumn("_ingested_at", F.lit(ingested_at).cast("timestamp"))


def empty_bronze(spark) -> DataFrame:
    columns = {**EXPORT_CONTRACT, **FILE_COLUMNS, **PARTITION_COLUMNS}
    return spark.createDataFrame([], ", ".join(f"{_quoted(c)} {t}" for c, t in columns.items()))


def snapshot_rows(bronze: DataFrame) -> DataFrame:
    """Bronze rows as typed, snake_case inventory rows (file lineage dropped: the same snapshot is the same rows)."""
    return bronze.select(
        F.col("_region").alias("region"),
        F.col("ProductID").cast("int").alias("product_id"),
        F.col("LocationID").cast("int").alias("location_id"),
        F.col("Shelf").alias("shelf"),
        F.col("Bin").cast("int").alias("bin"),
        F.col("Quantity").cast("int").alias("quantity"),
        F.col("rowguid").alias("row_guid"),
        F.col("ModifiedDate").alias("modified_date"),
        F.col("SnapshotTime").alias("snapshot_time"),
        F.col("_landing_date").alias("snapshot_date"),
    )


def removals(rows: DataFrame, known_keys: DataFrame, incomplete: DataFrame) -> DataFrame:
    """Tombstones: a known key missing from a complete snapshot of its region was removed at the source.

    ``rows`` are snapshot rows, ``known_keys`` the keys silver holds, ``incomplete`` the
    (region, snapshot_date) whose snapshot lost a rejected file: a key missing there may just be
    in that file, so no tombstone comes from it. A tombstone is dated by its snapshot, so it
    loses to a newer row of the key and wins over an older one.
    """
    snapshots = rows.groupBy("region", "snapshot_date").agg(F.max("snapshot_time").alias("snapshot_time"))
    complete = snapshots.join(incomplete.select("region", "snapshot_date"), ["region", "snapshot_date"], "left_anti")
    keys = rows.select(*INVENTORY_KEYS).unionByName(known_keys.select(*INVENTORY_KEYS)).distinct()
    present = rows.select(*INVENTORY_KEYS, "snapshot_date")
    missing = keys.join(complete, "region").join(present, [*INVENTORY_KEYS, "snapshot_date"], "left_anti")
    return missing.select(
        *INVENTORY_KEYS,
        F.lit(None).cast("string").alias("shelf"),
        F.lit(None).cast("int").alias("bin"),
        F.lit(0).alias("quantity"),
        F.lit(None).cast("string").alias("row_guid"),
        F.col("snapshot_time").alias("modified_date"),
        "snapshot_time",
        "snapshot_date",
        F.lit(True).alias("is_removed"),
    )


def current_inventory(
    bronze: DataFrame, known_keys: DataFrame | None = None, incomplete: DataFrame | None = None
) -> DataFrame:
    """One row per (region, product, location): the newest version among the given snapshots.

    With the ``known_keys`` of silver (and the ``incomplete`` snapshots), keys that complete
    snapshots no longer list become tombstones (``is_removed``, quantity 0); see :func:`removals`.
    """
    rows = snapshot_rows(bronze).withColumn("is_removed", F.lit(False))
    if known_keys is not None:
        rows = rows.unionByName(removals(rows, known_keys, incomplete))
    return latest_per_key(rows, INVENTORY_KEYS, SNAPSHOT_ORDER)


def daily_snapshot(bronze: DataFrame) -> DataFrame:
    """One row per snapshot day and (region, product, location): the newest of that day's files."""
    return latest_per_key(snapshot_rows(bronze), [*INVENTORY_KEYS, "snapshot_date"], SNAPSHOT_ORDER)


def inventory_position(
    bronze: DataFrame,
    skus: DataFrame | None,
    daily_sales: DataFrame | None,
    min_days_of_cover: float,
) -> DataFrame:
    """Per snapshot day, region and SKU: on hand, average daily sales, days of cover, stock-out risk.

    ``skus`` maps ``product_id`` to ``sku`` (a product missing from it is named ``product-<id>``);
    ``daily_sales`` (``order_date``, ``sku``, ``quantity``) must cover the six days before the
    first snapshot day. Demand is the SKU's sales of the trailing week (the ERP's sales are not
    split by region). Without sales, cover is unknown and only an empty shelf is a risk.
    """
    on_hand = (
        daily_snapshot(bronze)
        .groupBy(F.col("snapshot_date").alias("position_date"), "region", "product_id")
        .agg(
            F.sum("quantity").cast("bigint").alias("on_hand"),
            F.count("*").cast("int").alias("locations"),
            F.max("snapshot_time").alias("snapshot_time"),
        )
    )
    if skus is not None:
        on_hand = on_hand.join(F.broadcast(skus.select("product_id", "sku").distinct()), "product_id", "left")
    else:
        on_hand = on_hand.withColumn("sku", F.lit(None).cast("string"))
    on_hand = on_hand.withColumn(
        "sku", F.coalesce("sku", F.concat(F.lit("product-"), F.col("product_id").cast("string")))
    )

    if daily_sales is not None:
        sales = daily_sales.select(F.col("order_date"), F.col("sku").alias("_sku"), F.col("quantity"))
        in_week = (
            (F.col("_sku") == F.col("sku"))
            & (F.col("order_date") <= F.col("position_date"))
            & (F.col("order_date") > F.date_sub(F.col("position_date"), ROLLING_DAYS))
        )
        demand = (
            on_hand.select("position_date", "sku")
            .distinct()
            .join(sales, in_week, "left")
            .groupBy("position_date", "sku")
            .agg(
                (F.coalesce(F.sum("quantity"), F.lit(0)) / F.lit(ROLLING_DAYS)).cast("double").alias("avg_daily_sales")
            )
        )
        on_hand = on_hand.join(demand, ["position_date", "sku"], "left")
    else:
        on_hand = on_hand.withColumn("avg_daily_sales", F.lit(None).cast("double"))

    cover = F.when(F.col("avg_daily_sales") > 0, F.round(F.col("on_hand") / F.col("avg_daily_sales"), 2))
    return (
        on_hand.withColumn("avg_daily_sales", F.round("avg_daily_sales", 4))
        .withColumn("days_of_cover", cover.cast("double"))
        .withColumn(
            "stock_out_risk",
            (F.col("on_hand") <= 0) | F.coalesce(F.col("days_of_cover") < F.lit(min_days_of_cover), F.lit(False)),
        )
        .select(
            "position_date",
            "region",
            "sku",
            "product_id",
            "on_hand",
            "locations",
            "avg_daily_sales",
            "days_of_cover",
            "stock_out_risk",
            "snapshot_time",
        )
    )


def rejection_schema() -> T.StructType:
    return T.StructType(
        [
            T.StructField("landing_date", T.DateType()),
            T.StructField("region", T.StringType()),
            T.StructField("file_name", T.StringType()),
            T.StructField("file_path", T.StringType()),
            T.StructField("file_size", T.LongType()),
            T.StructField("file_modified_at", T.TimestampType()),
            T.StructField("file_format", T.StringType()),
            T.StructField("reason", T.StringType()),
        ]
    )
