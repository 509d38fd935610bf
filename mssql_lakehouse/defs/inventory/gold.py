"""Gold inventory: each day's position per SKU and region, with days of cover and stock-out risk.

A partition's position is computed from that day's snapshot (silver's rules: the newest row per
product and location), so every day keeps its own position whatever order days are run or
replayed in; silver holds the current state, and the latest day's position equals it (checked).
Demand is the SKU's sales of the trailing week from the sales slice's ``gold/daily_sku_sales``
when the lakehouse has it; SKU numbers come from the sales slice's ``bronze/products``.
"""

import datetime as dt

import dagster as dg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mssql_lakehouse.defs.inventory.checks import inventory_position_checks
from mssql_lakehouse.defs.inventory.common import INVENTORY, INVENTORY_DAILY, POSITION, SNAPSHOTS
from mssql_lakehouse.defs.inventory.partitions import partition_day_and_region
from mssql_lakehouse.defs.sales.gold import DAILY_SKU_SALES
from mssql_lakehouse.lib.io.compilation import local_checkpoint
from mssql_lakehouse.lib.io.tables_resource import LakehouseTables
from mssql_lakehouse.lib.transforms.inventory import daily_snapshot
from mssql_lakehouse.lib.transforms.inventory import inventory_position as position_of
from mssql_lakehouse.lib.transforms.sku_metrics import ROLLING_DAYS

PRODUCTS = dg.AssetKey(["bronze", "products"])
POSITION_KEYS = ["position_date", "region", "sku"]


def _days(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    days = sorted(dt.date.fromisoformat(partition_day_and_region(k)[0]) for k in context.partition_keys)
    return days[0], days[-1]


def _table_if_present(tables: LakehouseTables, spark: SparkSession, key: dg.AssetKey) -> DataFrame | None:
    location = tables.location(key)
    return location.read(spark) if location.exists(spark) else None


def _skus(tables: LakehouseTables, spark: SparkSession, last: dt.date) -> DataFrame | None:
    """Product id -> SKU from the latest product snapshot up to the last day (the sales slice's bronze)."""
    products = _table_if_present(tables, spark, PRODUCTS)
    if products is None:
        return None
    known = products.where(F.col("snapshot_date") <= F.lit(last))
    latest = known.agg(F.max("snapshot_date")).collect()[0][0]
    if latest is None:
        return None
    return known.where(F.col("snapshot_date") == F.lit(latest)).select(
        F.col("ProductID").cast("int").alias("product_id"), F.col("ProductNumber").alias("sku")
    )


def _recent_sales(tables: LakehouseTables, spark: SparkSession, first: dt.date, last: dt.date) -> DataFrame | None:
    sales = _table_if_present(tables, spark, DAILY_SKU_SALES)
    if sales is None:
        return None
    since = first - dt.timedelta(days=ROLLING_DAYS - 1)
    return sales.where((F.col("order_date") >= F.lit(since)) & (F.col("order_date") <= F.lit(last)))


@dg.asset(
    key=POSITION,
    ins={"snapshots": dg.AssetIn(SNAPSHOTS)},
    deps=[INVENTORY],
    metadata={"partition_expr": {"date": "position_date", "region": "region"}},
    check_specs=inventory_position_checks(POSITION),
    **INVENTORY_DAILY,
)
def inventory_position(context: dg.AssetExecutionContext, snapshots: DataFrame):
    """Per day, region and SKU: on hand, average daily sales of the trailing week, days of cover, stock-out risk."""
    spark: SparkSession = context.resources.spark.get_session()
    tables: LakehouseTables = context.resources.tables
    first, last = _days(context)
    sales = _recent_sales(tables, spark, first, last)
    min_days_of_cover = context.resources.inventory_settings.min_days_of_cover
    positions = local_checkpoint(position_of(snapshots, _skus(tables, spark, last), sales, min_days_of_cover))
    yield dg.Output(positions, metadata={"demand_from_sales": sales is not None})

    per_day = [F.col("position_date").alias("d"), "region"]
    snapshot = daily_snapshot(snapshots).withColumnRenamed("snapshot_date", "position_date")
    expected = {
        (r["d"], r["region"]): (r["q"], r["n"])
        for r in snapshot.groupBy(*per_day).agg(F.sum("quantity").alias("q"), F.count("*").alias("n")).collect()
    }
    actual = {
        (r["d"], r["region"]): (r["q"], r["n"])
        for r in positions.groupBy(*per_day).agg(F.sum("on_hand").alias("q"), F.sum("locations").alias("n")).collect()
    }
    mismatched = sorted(
        f"{d}|{region}" for (d, region), figures in expected.items() if actual.get((d, region)) != figures
    )
    yield dg.AssetCheckResult(
        check_name="on_hand_matches_snapshot",
        passed=not mismatched,
        metadata={"partitions": len(expected), "mismatched": ", ".join(mismatched) or "none"},
    )
    duplicates = positions.groupBy(*POSITION_KEYS).count().where("count > 1").count()
    yield dg.AssetCheckResult(
        check_name="unique_sku_per_region", passed=duplicates == 0, metadata={"duplicate_keys": duplicates}
    )
