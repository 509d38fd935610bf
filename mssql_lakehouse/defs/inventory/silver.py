"""Silver inventory: the current on-hand per (region, product, location), merged from bronze.

A row is replaced only by one from a snapshot at least as new (then by ``ModifiedDate``), so
re-ingesting files or replaying any partition leaves the table as it is, and an older snapshot
replayed after a newer one never overwrites it. Rows carry no file lineage: the same snapshot
landed as CSV or parquet gives the same rows.

An export is the region's whole table: a product and location it no longer lists was removed
at the source and stays as a tombstone (``is_removed``, quantity 0), so replaying an older
snapshot cannot bring it back. A snapshot that lost a file to rejection removes nothing.
"""

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.defs.inventory.common import INVENTORY, INVENTORY_DAILY, REJECTED_FILES, SNAPSHOTS
from mssql_lakehouse.lib.io.tables_resource import LakehouseTables
from mssql_lakehouse.lib.transforms.inventory import INVENTORY_KEYS, SNAPSHOT_ORDER, current_inventory


@dg.asset(
    key=INVENTORY,
    ins={"snapshots": dg.AssetIn(SNAPSHOTS), "rejected": dg.AssetIn(REJECTED_FILES)},
    metadata={
        "partition_expr": {"date": "snapshot_date", "region": "region"},
        "write_mode": "merge",
        "merge_keys": INVENTORY_KEYS,
        "merge_order_by": SNAPSHOT_ORDER,
        # A key's row moves to the date of its newest snapshot: match it wherever it is.
        "merge_scope": "table",
    },
    **INVENTORY_DAILY,
)
def inventory(context: dg.AssetExecutionContext, snapshots: DataFrame, rejected: DataFrame) -> DataFrame:
    """Current on-hand per region, product and location, from the newest snapshot that has it."""
    spark = context.resources.spark.get_session()
    tables: LakehouseTables = context.resources.tables
    location = tables.location(INVENTORY)
    if location.exists(spark):
        known = location.read(spark).where("NOT is_removed").select(*INVENTORY_KEYS)
    else:
        known = spark.createDataFrame([], "region string, product_id int, location_id int")
    incomplete = rejected.select("region", F.col("landing_date").alias("snapshot_date")).distinct()
    return current_inventory(snapshots, known, incomplete)
