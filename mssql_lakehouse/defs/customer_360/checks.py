"""Checks of the Customer 360 slice.

The SCD2 rules (one current version per live key, sound validity intervals) are yielded
by the silver asset right after it writes, over the keys that run rewrote: every key's
rows are only ever written by such a run, so the rules hold for the whole table. SCD1
equal to the history's current rows is a standalone check over both whole tables: the two
are separate commits, and a run that dies between them leaves SCD1 stale without any
check of its own having run, so the check must be able to run on its own (``dagster asset
check``, a schedule) and also runs with every silver run. CDC lag is standalone too: it
depends on the clock.
"""

import datetime as dt
import functools
import operator
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import dagster as dg
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from mssql_lakehouse.defs.customer_360.common import CHANGES, CUSTOMERS, HISTORY, business_day_zone
from mssql_lakehouse.lib.transforms.customer_changes import SILVER_KEY
from mssql_lakehouse.lib.transforms.scd import scd1_differences

SAMPLE = 5


def _sample(df: DataFrame, columns: Sequence[str], failed: bool = True) -> dg.MetadataValue:
    """A few offending rows for the check's metadata (no Spark job when nothing failed)."""
    if not failed:
        return dg.MetadataValue.json([])
    rows = [{k: str(v) for k, v in r.asDict().items()} for r in df.select(*columns).limit(SAMPLE).collect()]
    return dg.MetadataValue.json(rows)


def one_current_version_per_live_key(
    asset_key: dg.AssetKey, history: DataFrame, customers: DataFrame
) -> dg.AssetCheckResult:
    """Every live customer (a row of ``silver/customers``) has exactly one current version; a deleted one none."""
    current = history.where("is_current").groupBy(SILVER_KEY).agg(F.count("*").alias("current_versions"))
    live = customers.select(SILVER_KEY, F.lit(True).alias("live")).distinct()
    both = current.join(live, SILVER_KEY, "full_outer")
    counts = (
        both.agg(
            F.sum(F.when(F.col("current_versions") > 1, 1).otherwise(0)).alias("keys_with_several_current"),
            F.sum(F.when(F.col("live") & F.col("current_versions").isNull(), 1).otherwise(0)).alias(
                "live_keys_without_current"
            ),
            F.sum(F.when(F.col("live").isNull(), 1).otherwise(0)).alias("deleted_keys_with_current"),
        )
        .collect()[0]
        .asDict()
    )
    counts = {k: int(v or 0) for k, v in counts.items()}
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="one_current_version_per_live_key",
        passed=not any(counts.values()),
        metadata={
            **counts,
            "sample_several_current": _sample(
                both.where("current_versions > 1"),
                [SILVER_KEY, "current_versions"],
                counts["keys_with_several_current"] > 0,
            ),
        },
    )


def validity_intervals(asset_key: dg.AssetKey, history: DataFrame) -> dg.AssetCheckResult:
    """Per key: no interval ends before it starts, none starts before the previous one ended, only the
    current version is open. (Gaps are fine: a deleted customer has none.)"""
    by_start = Window.partitionBy(SILVER_KEY).orderBy("valid_from", "valid_from_lsn")
    rows = history.select(
        SILVER_KEY,
        "valid_from",
        "valid_to",
        "is_current",
        F.lead("valid_from").over(by_start).alias("next_from"),
    )
    rules = {
        "inverted": F.col("valid_to") < F.col("valid_from"),
        "overlapping": F.col("next_from").isNotNull()
        & (F.col("valid_to").isNull() | (F.col("next_from") < F.col("valid_to"))),
        "current_but_closed": F.col("is_current") & F.col("valid_to").isNotNull(),
        "open_but_not_current": ~F.col("is_current") & F.col("valid_to").isNull(),
    }
    counts = rows.agg(*[F.sum(F.when(rule, 1).otherwise(0)).alias(name) for name, rule in rules.items()])
    counts = {k: int(v or 0) for k, v in counts.collect()[0].asDict().items()}
    bad = rows.where(functools.reduce(operator.or_, rules.values()))
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="validity_intervals",
        passed=not any(counts.values()),
        metadata={
            **counts,
            "sample": _sample(bad, [SILVER_KEY, "valid_from", "valid_to", "next_from"], any(counts.values())),
        },
    )


@dg.asset_check(
    asset=CUSTOMERS,
    name="matches_history_current_rows",
    additional_deps=[HISTORY],
    description="silver/customers is exactly the current rows of silver/customers_history (whole tables).",
    required_resource_keys={"spark", "tables"},
)
def matches_history_current_rows(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    spark = context.resources.spark.get_session()
    tables = context.resources.tables
    customers, history = tables.location(CUSTOMERS), tables.location(HISTORY)
    if not (history.exists(spark) and customers.exists(spark)):
        # History without SCD1 is the state of a first run that died between the two commits.
        has_history = history.exists(spark)
        return dg.AssetCheckResult(
            passed=not has_history,
            metadata={"note": "silver/customers missing while the history exists" if has_history else "no history yet"},
        )
    only_scd1, only_history, columns = scd1_differences(customers.read(spark), history.read(spark))
    counts = {"rows_only_in_customers": only_scd1.count(), "rows_only_in_history": only_history.count()}
    return dg.AssetCheckResult(
        passed=not any(counts.values()),
        metadata={
            **counts,
            "columns_compared": ", ".join(columns),
            "sample_only_in_customers": _sample(only_scd1, [SILVER_KEY], counts["rows_only_in_customers"] > 0),
            "sample_only_in_history": _sample(only_history, [SILVER_KEY], counts["rows_only_in_history"] > 0),
        },
    )


def lag_result(newest_commit: dt.datetime | None, now: dt.datetime, max_lag: dt.timedelta) -> dg.AssetCheckResult:
    """Time since the newest change bronze has seen (ERP wall clock), against the configured bound."""
    if newest_commit is None:
        return dg.AssetCheckResult(
            asset_key=CHANGES,
            check_name="cdc_lag",
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"note": "no change landed yet", "max_lag_hours": max_lag.total_seconds() / 3600},
        )
    lag = now - newest_commit
    return dg.AssetCheckResult(
        asset_key=CHANGES,
        check_name="cdc_lag",
        passed=lag <= max_lag,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "newest_commit_time": newest_commit.isoformat(),
            "lag_hours": round(lag.total_seconds() / 3600, 3),
            "max_lag_hours": max_lag.total_seconds() / 3600,
        },
    )


def erp_now() -> dt.datetime:
    """Now on the ERP's wall clock (the clock of ``commit_time``)."""
    return dt.datetime.now(ZoneInfo(business_day_zone())).replace(tzinfo=None)


@dg.asset_check(
    asset=CHANGES,
    name="cdc_lag",
    description="Time since the newest change landed in bronze is within the configured bound (WARN).",
    required_resource_keys={"spark", "customer_cdc"},
)
def cdc_lag(context: dg.AssetCheckExecutionContext, customer_changes: DataFrame):
    newest = customer_changes.agg(F.max("commit_time").alias("newest")).collect()[0]["newest"]
    return lag_result(newest, erp_now(), dt.timedelta(hours=context.resources.customer_cdc.max_lag_hours))
