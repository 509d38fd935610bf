"""Use case 1: nightly sales snapshot, forecast alignment and SKU alerts."""

import dagster as dg

from mssql_lakehouse.lib.asset_defaults import SPARK_RESOURCES
from mssql_lakehouse.lib.partitions import daily_partitions

# What every sales asset shares: the ERP's business day, single-run backfills, the group.
SALES_DAILY = {
    "partitions_def": daily_partitions,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "kinds": {"pyspark", "delta"},
    "group_name": "sales",
    "required_resource_keys": SPARK_RESOURCES,
}
