"""Silver inventory: the current on-hand per (region, product, location), merged from bronze.

A row is replaced only by one from a snapshot at least as new (then by ``ModifiedDate``), so
re-ingesting files or replaying any partition leaves the table as it is, and an older snapshot
replayed after a newer one never overwrites it. Rows carry no file lineage: the same snapshot
landed as CSV or parquet gives the same rows.
"""

import dagster as dg
from pyspark.sql import DataFrame

from mssql_lakehouse.assets.inventory import INVENTORY, INVENTORY_DAILY, SNAPSHOTS
from mssql_lakehouse.transforms.inventory import INVENTORY_KEYS, SNAPSHOT_ORDER, current_inventory


@dg.asset(
    key=INVENTORY,
    ins={"snapshots": dg.AssetIn(SNAPSHOTS)},
    metadata={
        "partition_expr": {"date": "snapshot_date", "region": "region"},
        "write_mode": "merge",
        "merge_keys": INVENTORY_KEYS,
        "merge_order_by": SNAPSHOT_ORDER,
        # A key's row moves to the date of its newest snapshot: match it wherever it is.
        "merge_scope": "table",
    },
    **{**INVENTORY_DAILY, "required_resource_keys": INVENTORY_DAILY["required_resource_keys"] - {"tables"}},
)
def inventory(snapshots: DataFrame) -> DataFrame:
    """Current on-hand per region, product and location, from the newest snapshot that has it."""
    return current_inventory(snapshots)
