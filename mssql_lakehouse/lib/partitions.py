"""Partition definitions, defined once and imported by every asset."""

import dagster as dg

from mssql_lakehouse.settings import erp_timezone, partitions_start_date

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=partitions_start_date(), timezone=erp_timezone(), end_offset=0
)
