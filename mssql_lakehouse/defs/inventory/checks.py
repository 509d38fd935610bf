"""Checks on silver and gold inventory over the whole tables (silver is merged table-wide).

Bronze and gold carry their per-partition checks as ``check_specs`` (rejected files, schema
drift, totals); these look at what the merges left behind.
"""

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.defs.inventory.common import INVENTORY, POSITION
from mssql_lakehouse.lib.check_rules import not_null, unique_key
from mssql_lakehouse.lib.io.tables_resource import LakehouseTables
from mssql_lakehouse.lib.transforms.inventory import INVENTORY_KEYS

RESOURCES = {"spark", "tables"}


def _read(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> DataFrame:
    tables: LakehouseTables = context.resources.tables
    return tables.location(key).read(context.resources.spark.get_session())


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec("unique_key", asset=INVENTORY),
        dg.AssetCheckSpec("not_null_keys", asset=INVENTORY),
        dg.AssetCheckSpec("non_negative_quantity", asset=INVENTORY),
    ],
    required_resource_keys=RESOURCES,
)
def inventory_integrity(context: dg.AssetCheckExecutionContext):
    """One row per (region, product, location), keys present, no negative on-hand."""
    rows = _read(context, INVENTORY)
    yield unique_key(INVENTORY, rows, INVENTORY_KEYS)
    yield not_null(INVENTORY, rows, INVENTORY_KEYS)
    negative = rows.where(F.col("quantity") < 0)
    yield dg.AssetCheckResult(
        asset_key=INVENTORY,
        check_name="non_negative_quantity",
        passed=negative.isEmpty(),
        metadata={"negative_rows": negative.count(), "sample": dg.MetadataValue.json([r.asDict() for r in negative.limit(5).collect()])},
    )


@dg.asset_check(
    asset=POSITION,
    additional_deps=[INVENTORY],
    required_resource_keys=RESOURCES,
    description="Each region's latest position equals silver's current on-hand, per product.",
)
def latest_position_matches_silver(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    silver = _read(context, INVENTORY).where("NOT is_removed").groupBy("region", "product_id").agg(F.sum("quantity").cast("bigint").alias("on_hand"))
    positions = _read(context, POSITION)
    latest = positions.groupBy("region").agg(F.max("position_date").alias("position_date"))
    gold = positions.join(latest, ["region", "position_date"]).select("region", "product_id", "on_hand")
    differences = silver.exceptAll(gold).union(gold.exceptAll(silver))
    count = differences.count()
    return dg.AssetCheckResult(
        passed=count == 0,
        metadata={
            "differing_products": count,
            "latest_position_dates": dg.MetadataValue.json({r["region"]: str(r["position_date"]) for r in latest.collect()}),
        },
    )
