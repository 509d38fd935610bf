"""Reporting periods: one partition per calendar month in the ERP's time zone, keyed ``YYYY-MM``."""

import dagster as dg

from mssql_lakehouse.lib.partitions import PARTITION_SETTINGS

monthly_periods = dg.MonthlyPartitionsDefinition(
    start_date=PARTITION_SETTINGS.business_day.partitions_start[:7],
    fmt="%Y-%m",
    timezone=PARTITION_SETTINGS.erp_timezone,
    end_offset=0,
)
