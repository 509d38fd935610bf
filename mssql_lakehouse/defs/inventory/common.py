"""Use case 2: regional inventory from landed exports, merged per region and day."""

import dagster as dg

from mssql_lakehouse.defs.inventory.partitions import inventory_partitions
from mssql_lakehouse.lib.asset_defaults import SPARK_RESOURCES

SNAPSHOTS = dg.AssetKey(["bronze", "inventory_snapshots"])
REJECTED_FILES = dg.AssetKey(["bronze", "inventory_rejected_files"])
INVENTORY = dg.AssetKey(["silver", "inventory"])
POSITION = dg.AssetKey(["gold", "inventory_position"])

# What every inventory asset shares: (day, region) partitions, single-run backfills, the group, the
# landing roots and thresholds (``inventory_settings``).
INVENTORY_DAILY = {
    "partitions_def": inventory_partitions,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "kinds": {"pyspark", "delta"},
    "group_name": "inventory",
    "required_resource_keys": SPARK_RESOURCES | {"tables", "inventory_settings"},
}
