"""Use case: the month-end finance close (ledger snapshot, trial balance, audit trail, grants)."""

import datetime as dt

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.defs.finance.grants import FinanceGrants
from mssql_lakehouse.defs.finance.partitions import monthly_periods
from mssql_lakehouse.lib.asset_defaults import SPARK_RESOURCES
from mssql_lakehouse.lib.partitions import partition_window

# One run per period: a period's close is numbered and archived on its own, so a backfill
# of several months is several closes, never one commit across periods.
FINANCE_MONTHLY = {
    "partitions_def": monthly_periods,
    "backfill_policy": dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    "kinds": {"pyspark", "delta"},
    "group_name": "finance",
    "required_resource_keys": SPARK_RESOURCES | {"finance_grants"},
}


def period_bounds(context: dg.AssetExecutionContext) -> tuple[str, dt.date, dt.date]:
    """The reporting period ``YYYY-MM`` and its first day and the first day after it."""
    window = partition_window(context)
    return context.partition_key, window.start.date(), window.end.date()


def grant_statements(context: dg.AssetExecutionContext, key: dg.AssetKey) -> tuple[list[str], dict]:
    """The grant statements for a table, and the metadata that shows them on the materialization."""
    grants: FinanceGrants = context.resources.finance_grants
    spark = context.resources.spark.get_session()
    statements = grants.statements(key, grants.current_grants(spark, key))
    return statements, {
        "grant_statements": dg.MetadataValue.md("\n".join(f"- `{s}`" for s in statements) or "(none)"),
        "grants_applied": grants.apply,
    }


def apply_grants(context: dg.AssetExecutionContext, statements: list[str]) -> None:
    """After the write: execute on Databricks, log as a dry run locally."""
    grants: FinanceGrants = context.resources.finance_grants
    grants.execute(context.resources.spark.get_session(), statements, context.log)


def with_period_metadata(df: DataFrame, period_start: dt.date, period_end: dt.date, database: str) -> DataFrame:
    """Add the period each row was read for, when it was read and from which database."""
    return (
        df.withColumn("_window_start", F.lit(dt.datetime.combine(period_start, dt.time())).cast("timestamp_ntz"))
        .withColumn("_window_end", F.lit(dt.datetime.combine(period_end, dt.time())).cast("timestamp_ntz"))
        .withColumn("_extracted_at", F.current_timestamp())
        .withColumn("_source_database", F.lit(database))
    )


__all__ = ["FINANCE_MONTHLY", "monthly_periods"]
