"""Reporting periods: one partition per calendar month in the ERP's time zone, keyed ``YYYY-MM``."""

import dagster as dg

from mssql_lakehouse.settings import erp_timezone, partitions_start_date

monthly_periods = dg.MonthlyPartitionsDefinition(
    start_date=partitions_start_date()[:7], fmt="%Y-%m", timezone=erp_timezone(), end_offset=0
)
