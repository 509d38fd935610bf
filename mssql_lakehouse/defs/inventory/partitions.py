"""Inventory partitions: the shared ERP business day x the region, keyed like ``2026-11-01|amer``."""

import dagster as dg

from mssql_lakehouse.lib.partitions import PARTITION_SETTINGS, daily_partitions

region_partitions = dg.StaticPartitionsDefinition(list(PARTITION_SETTINGS.inventory.regions))

inventory_partitions = dg.MultiPartitionsDefinition({"date": daily_partitions, "region": region_partitions})


def partition_day_and_region(key: dg.MultiPartitionKey | str) -> tuple[str, str]:
    if not isinstance(key, dg.MultiPartitionKey):
        key = inventory_partitions.get_partition_key_from_str(key)
    return key.keys_by_dimension["date"], key.keys_by_dimension["region"]
