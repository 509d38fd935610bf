"""Customer 360 from change data capture on ``dbo.Customer``.

``bronze/customer_changes`` lands every change event of the partition's day (by commit
time) from one of two feeds, chosen by ``LAKEHOUSE_CDC_FEED``: SQL Server CDC pulled
through the source layer (``sqlserver``, the default) or Debezium events (``debezium``).
Both normalise into the same rows (see ``transforms/customer_changes.py``).

``silver/customers_history`` (SCD2) and ``silver/customers`` (SCD1) are rewritten for
the customers the day's changes touched, from *all* their changes in bronze, so days can
be materialized in any order and replayed any number of times with the same result as
applying every change once in commit order. The history write replaces each touched
customer's versions (a recompute can drop one: a snapshot read made redundant by an earlier
day that landed later), and ``silver/customers`` is derived from the history table as
written, for the touched customers and for any whose SCD1 row disagrees with it: the two
tables are separate commits, and the next run repairs what a run that died between them
left stale. ``gold/customer_360`` joins the live profiles with the sales facts when the
sales tables exist.
"""

import datetime as dt
import os
from typing import Literal

import dagster as dg
from pydantic import Field
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.defs.customer_360.checks import (
    CHANGES,
    CUSTOMERS,
    HISTORY,
    one_current_version_per_live_key,
    validity_intervals,
)
from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
from mssql_lakehouse.lib.asset_defaults import ERP_POOL, EXTRACTION_RETRY, SPARK_RESOURCES
from mssql_lakehouse.lib.check_rules import reconciles_with_source
from mssql_lakehouse.lib.partitions import daily_partitions
from mssql_lakehouse.settings import LocalPaths, erp_timezone
from mssql_lakehouse.lib.sources import ExtractionMode, MssqlSource, TableSource, frame_figures
from mssql_lakehouse.lib.transforms.change_positions import lsn_text
from mssql_lakehouse.lib.transforms.customer_360 import customer_360 as build_customer_360
from mssql_lakehouse.lib.transforms.customer_360 import sales_facts
from mssql_lakehouse.lib.transforms.customer_changes import (
    CAPTURE_INSTANCE,
    DECLARED_SQL_TYPES,
    DECODE_ERROR,
    KEY,
    SILVER_KEY,
    business_columns,
    events_from_pairs,
    events_no_longer_delivered,
    first_delivery,
    invalid_reason,
    schema_drift,
    silver_events,
    snapshot_pairs,
    sqlserver_pairs,
)
from mssql_lakehouse.lib.transforms.debezium import (
    DebeziumEncoding,
    DebeziumSource,
    DebeziumSourceKind,
    commit_time_of_events,
    connection_string_field,
    debezium_pairs,
    field_report,
    parse_envelopes,
    read_event_lines,
)
from mssql_lakehouse.lib.transforms.scd import (
    DELETE_FLAG,
    HISTORY_COLUMNS,
    history_of,
    scd1_from_history,
    stale_scd1_keys,
    touched_keys,
)

SNAPSHOT = dg.AssetKey(["bronze", "customer_snapshot"])
QUARANTINE = dg.AssetKey(["bronze", "customer_changes_quarantine"])
CUSTOMER_360 = dg.AssetKey(["gold", "customer_360"])
SALES_ORDERS = dg.AssetKey(["silver", "sales_orders"])
SALES_ORDER_LINES = dg.AssetKey(["silver", "sales_order_lines"])

GROUP = "customer_360"
HISTORY_POOL = "customer_360_history"

CUSTOMER_CHANGES = TableSource(
    "dbo", "Customer", mode=ExtractionMode.CDC, capture_instance=CAPTURE_INSTANCE, key_columns=(KEY,)
)


class CustomerChangesConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Replace the window's bronze events with what the feed delivers now, even when bronze "
        "holds events the feed no longer delivers (its landed files were pruned). Without it such a "
        "re-run is refused. The SQL Server feed's full refresh of the table is bronze/customer_snapshot.",
    )


def wall_clock(moment: dt.datetime) -> Column:
    """A window bound as a ``timestamp_ntz`` literal: the partition's wall-clock time, no zone shift."""
    return F.lit(moment.strftime("%Y-%m-%d %H:%M:%S.%f")).cast("timestamp_ntz")


def in_window(value: Column, window: dg.TimeWindow) -> Column:
    return (value >= wall_clock(window.start)) & (value < wall_clock(window.end))


# -- bronze ---------------------------------------------------------------------------------------


@dg.multi_asset(
    outs={
        "customer_changes": dg.AssetOut(
            key=CHANGES,
            metadata={"partition_expr": "commit_time"},
            kinds={"pyspark", "delta", "mssql"},
            description="Every change event of dbo.Customer, once, with its position in commit order, "
            "operation, commit time, feed and ingestion metadata (partitioned by commit time).",
        ),
        "customer_changes_quarantine": dg.AssetOut(
            key=QUARANTINE,
            metadata={"partition_expr": "partition_date"},
            kinds={"pyspark", "delta"},
            description="Change events that cannot be applied (unknown operation, missing LSN, key or "
            "commit time, commit time outside the window), with the reason.",
        ),
    },
    check_specs=[
        dg.AssetCheckSpec("schema_drift", asset=CHANGES, description="Fields added to or missing from the source (WARN)."),
        dg.AssetCheckSpec("no_quarantined_events", asset=CHANGES, description="No event of the window was quarantined."),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=GROUP,
    pool=ERP_POOL,
    required_resource_keys=SPARK_RESOURCES | {"erp", "customer_cdc", "tables"},
    retry_policy=EXTRACTION_RETRY,
)
def customer_changes(context: dg.AssetExecutionContext, config: CustomerChangesConfig):
    """Land the window's change events of dbo.Customer from the configured feed.

    A re-run replaces the window's events, so it is refused when bronze holds events of the
    window that the feed no longer delivers (as the SQL Server feed refuses a window CDC
    cleanup has expired), unless run with ``full_refresh: true``.
    """
    spark = context.resources.spark.get_session()
    settings: CustomerCdcSettings = context.resources.customer_cdc
    window = context.partition_time_window
    ingested_at = F.lit(dt.datetime.now(dt.timezone.utc)).cast("timestamp")
    metadata: dict = {"feed": settings.feed}
    if settings.feed == "sqlserver":
        erp: MssqlSource = context.resources.erp
        extraction = erp.extract(spark, CUSTOMER_CHANGES, window=window)
        pairs = sqlserver_pairs(extraction.df, source=erp.database)
        fields_seen = [c for c in extraction.df.columns if not c.startswith("__$")]
        metadata.update({k: v for k, v in extraction.metadata().items() if v is not None})
        unreadable = 0
    else:
        source = settings.source()
        parsed = parse_envelopes(read_event_lines(spark, source)).cache()
        commit_time = commit_time_of_events(erp_timezone())
        readable = F.col("op").isNotNull() & F.col("source.ts_ms").isNotNull()
        lines = parsed.agg(
            F.sum(F.when(F.col("is_tombstone"), 1).otherwise(0)).alias("tombstones"),
            F.sum(F.when(~F.col("is_tombstone") & ~readable, 1).otherwise(0)).alias("unreadable"),
        ).collect()[0]
        unreadable = int(lines["unreadable"] or 0)
        windowed = parsed.where(readable).where(in_window(commit_time, window))
        report = field_report(windowed, DECLARED_SQL_TYPES, settings.encoding())
        pairs = debezium_pairs(windowed, report, erp_timezone())
        fields_seen = list(report.present)
        metadata.update(
            {
                "debezium_source": source.kind.value,
                "debezium_location": source.path if source.kind.value in ("files", "autoloader") else source.topic,
                "tombstones_ignored": int(lines["tombstones"] or 0),
                "unreadable_lines": unreadable,
                "conflicting_field_schemas": ", ".join(report.conflicting_schemas),
            }
        )
    events = events_from_pairs(pairs, settings.feed, ingested_at).withColumn(
        "__reason",
        F.coalesce(
            invalid_reason(),
            F.when(~in_window(F.col("commit_time"), window), F.lit("commit time outside the partition window")),
        ),
    ).cache()
    valid = first_delivery(events.where("__reason IS NULL").drop("__reason"))
    rejected = events.where("__reason IS NOT NULL")
    quarantine = rejected.select(
        F.when(in_window(F.col("commit_time"), window), F.to_date("commit_time"))
        .otherwise(F.lit(window.start.date()))
        .alias("partition_date"),
        F.col("__reason").alias("reason"),
        "commit_lsn",
        "change_lsn",
        "operation",
        "commit_time",
        F.col(f"`{KEY}`").cast("string").alias("key"),
        F.to_json(F.struct(*[F.col(f"`{c}`") for c in events.columns if c != "__reason"])).alias("record"),
        "_feed",
        "_source",
        "_ingested_at",
    )
    by_reason = {r["reason"]: r["count"] for r in events.groupBy(F.col("__reason").alias("reason")).count().collect()}
    delivered = by_reason.pop(None, 0)
    quarantined = sum(by_reason.values())
    landed = valid.cache().count()
    bronze = context.resources.tables.location(CHANGES)
    if not config.full_refresh and bronze.exists(spark):
        _refuse_losing_events(bronze.read(spark).where(in_window(F.col("commit_time"), window)), valid, settings.feed)
    yield dg.Output(
        valid,
        output_name="customer_changes",
        metadata={**metadata, "events_delivered": delivered, "duplicates_dropped": delivered - landed,
                  "fields_seen": ", ".join(fields_seen)},
    )
    yield dg.Output(quarantine, output_name="customer_changes_quarantine")
    drift = schema_drift(fields_seen) if (fields_seen or landed) else {"added": [], "missing": []}
    yield dg.AssetCheckResult(
        asset_key=CHANGES,
        check_name="schema_drift",
        passed=not drift["added"] and not drift["missing"],
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"added_fields": ", ".join(drift["added"]), "missing_fields": ", ".join(drift["missing"]),
                  "note": "added fields land as new columns; missing ones stay as columns with nulls"},
    )
    yield dg.AssetCheckResult(
        asset_key=CHANGES,
        check_name="no_quarantined_events",
        passed=quarantined == 0,
        metadata={"quarantined": quarantined, "unreadable_lines": unreadable,
                  "reasons": dg.MetadataValue.json(by_reason)},
    )


def _refuse_losing_events(landed: DataFrame, delivered: DataFrame, feed: str) -> None:
    """Fail, without retries, when writing ``delivered`` over the window would erase landed events."""
    by_source = events_no_longer_delivered(landed, delivered).groupBy("_source").count().collect()
    lost = {r["_source"]: r["count"] for r in by_source}
    if lost:
        sources = ", ".join(sorted(str(s) for s in lost)[:10])
        raise dg.Failure(
            f"{CHANGES.to_user_string()} holds {sum(lost.values())} events of this window that the {feed} feed no "
            f"longer delivers (landed from: {sources}); its landed files were pruned or rewritten, and re-running "
            "would erase those events. Restore the files, or replace the window with what the feed holds now by "
            "running with the op config customer_changes: {full_refresh: true}.",
            metadata={"events_no_longer_delivered": sum(lost.values()), "sources": dg.MetadataValue.json(lost)},
            allow_retries=False,
        )


@dg.asset(
    key=SNAPSHOT,
    metadata={"write_mode": "merge", "merge_keys": [KEY, "change_position"]},
    kinds={"pyspark", "delta", "mssql"},
    check_specs=[dg.AssetCheckSpec("reconciles_with_source", asset=SNAPSHOT,
                                   description="Row count and key and amount sums equal the table's when read.")],
    group_name=GROUP,
    pool=ERP_POOL,
    required_resource_keys=SPARK_RESOURCES | {"erp", "customer_cdc"},
)
def customer_snapshot(context: dg.AssetExecutionContext):
    """The SQL Server feed's initial load: every row of dbo.Customer as a snapshot read (``r``).

    The change tables only hold what changed since CDC was enabled, so customers unchanged
    since then reach silver through this snapshot. It is positioned at the capture
    instance's max LSN when read; silver applies it with the day of that LSN (see the
    ``apply_with_partition`` metadata) and treats a snapshot row equal to the customer's
    current version as no change. Run it once after enabling CDC on a table that already
    held rows, and again to re-baseline after changes were lost to the CDC retention. Each
    snapshot is kept; re-running with nothing captured since changes nothing but the
    ingestion time.
    """
    settings: CustomerCdcSettings = context.resources.customer_cdc
    if settings.feed != "sqlserver":
        raise dg.Failure(
            "bronze/customer_snapshot is the initial load of the SQL Server feed; with "
            f"LAKEHOUSE_CDC_FEED={settings.feed} the connector's own snapshot (its 'r' events) is the initial load"
        )
    erp: MssqlSource = context.resources.erp
    spark = context.resources.spark.get_session()
    extraction = erp.extract(spark, CUSTOMER_CHANGES, full_refresh=True)
    snapshot_lsn = lsn_text(extraction.details["snapshot_lsn"])
    snapshot_time: dt.datetime = extraction.details["snapshot_lsn_time"]
    ingested_at = F.lit(dt.datetime.now(dt.timezone.utc)).cast("timestamp")
    pairs = snapshot_pairs(extraction.df, snapshot_lsn, snapshot_time, source=erp.database)
    events = events_from_pairs(pairs, settings.feed, ingested_at).drop(DECODE_ERROR).localCheckpoint()
    landed = frame_figures(events, list(extraction.source_figures.sums))
    yield dg.Output(
        events,
        metadata={
            **{k: v for k, v in extraction.metadata().items() if v is not None},
            "snapshot_lsn": snapshot_lsn,
            "snapshot_time": snapshot_time.isoformat(),
            "apply_with_partition": snapshot_time.date().isoformat(),
        },
    )
    yield reconciles_with_source(
        SNAPSHOT,
        {"row_count": extraction.source_row_count, **extraction.source_figures.sums},
        {"row_count": landed.row_count, **landed.sums},
    )


# -- silver ---------------------------------------------------------------------------------------


@dg.multi_asset(
    outs={
        "customers_history": dg.AssetOut(
            key=HISTORY,
            metadata={
                "partition_expr": "valid_from",
                "write_mode": "merge",
                "merge_keys": [SILVER_KEY, "valid_from_lsn"],
                "merge_scope": "table",
                # Each written customer's recomputed history is complete: versions it no longer has go,
                # all of them for a customer written as a delete marker (no version left).
                "merge_replace_by": [SILVER_KEY],
                "merge_delete_flag": DELETE_FLAG,
            },
            kinds={"pyspark", "delta"},
            description="SCD2: one row per version of a customer, valid_from/valid_to (commit times), "
            "is_current; a delete closes the current version.",
        ),
        "customers": dg.AssetOut(
            key=CUSTOMERS,
            metadata={
                "partition_expr": "valid_from",
                "write_mode": "merge",
                "merge_keys": [SILVER_KEY],
                "merge_delete_flag": DELETE_FLAG,
                "merge_scope": "table",
            },
            kinds={"pyspark", "delta"},
            description="SCD1: one row per live customer with the latest values (the history's current rows), "
            "derived from the history table; a run also repairs customers a failed run left stale.",
        ),
    },
    ins={"changes": dg.AssetIn(CHANGES, partition_mapping=dg.AllPartitionMapping())},
    deps=[SNAPSHOT],
    check_specs=[
        dg.AssetCheckSpec("one_current_version_per_live_key", asset=HISTORY),
        dg.AssetCheckSpec("validity_intervals", asset=HISTORY),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=GROUP,
    # Two runs rewriting overlapping keys at once could each miss the other's bronze rows.
    pool=HISTORY_POOL,
    required_resource_keys=SPARK_RESOURCES | {"tables"},
)
def customer_dimensions(context: dg.AssetExecutionContext, changes: DataFrame):
    """Recompute the whole history of every customer the window's changes touched, from all of bronze;
    then bring SCD1 to the history's current rows for those customers and any left stale."""
    window = context.partition_time_window
    spark = changes.sparkSession
    tables = context.resources.tables
    snapshots = tables.location(SNAPSHOT)
    if snapshots.exists(spark):
        changes = changes.unionByName(snapshots.read(spark), allowMissingColumns=True)
    events = silver_events(changes)
    keys = touched_keys(events.where(in_window(F.col("commit_time"), window)), SILVER_KEY).localCheckpoint()
    history = history_of(events, keys, SILVER_KEY, business_columns(changes)).localCheckpoint()
    yield dg.Output(history, output_name="customers_history", metadata={"keys_rewritten": keys.count()})

    # SCD1 comes from the history table as written, not from this run's frame: a run that died
    # after the history commit left SCD1 stale for its keys, and they are repaired here.
    written_history = tables.location(HISTORY).read(spark)
    customers = tables.location(CUSTOMERS)
    stale = stale_scd1_keys(customers.read(spark) if customers.exists(spark) else None, written_history, SILVER_KEY)
    repaired = stale.join(keys, SILVER_KEY, "left_anti").localCheckpoint()
    rewrite = keys.unionByName(repaired).localCheckpoint()
    columns = [c for c in written_history.columns if c not in HISTORY_COLUMNS]
    repaired_count = repaired.count()
    if repaired_count:
        context.log.warning(f"silver/customers disagreed with the history for {repaired_count} customers; repaired")
    yield dg.Output(
        scd1_from_history(written_history, rewrite, SILVER_KEY, columns),
        output_name="customers",
        metadata={"keys_rewritten": rewrite.count(), "stale_keys_repaired": repaired_count},
    )

    # The written tables, for the keys this run rewrote (every key's rows are only written like this).
    written_history = written_history.join(F.broadcast(rewrite), SILVER_KEY, "left_semi").cache()
    written_customers = tables.location(CUSTOMERS).read(spark).join(F.broadcast(rewrite), SILVER_KEY, "left_semi").cache()
    yield one_current_version_per_live_key(HISTORY, written_history, written_customers)
    yield validity_intervals(HISTORY, written_history)
    written_history.unpersist()
    written_customers.unpersist()


# -- gold -----------------------------------------------------------------------------------------


@dg.asset(
    key=CUSTOMER_360,
    ins={"customers": dg.AssetIn(CUSTOMERS)},
    deps=[SALES_ORDERS, SALES_ORDER_LINES],
    metadata={"sales_tables": f"{SALES_ORDERS.to_user_string()}, {SALES_ORDER_LINES.to_user_string()} (optional)"},
    kinds={"pyspark", "delta"},
    group_name=GROUP,
    automation_condition=(
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ),
    required_resource_keys=SPARK_RESOURCES | {"tables"},
)
def customer_360(context: dg.AssetExecutionContext, customers: DataFrame) -> DataFrame:
    """One row per live customer: profile from silver plus orders, net revenue and first/last order date.

    Cancelled orders are not counted. Without the sales tables the sales columns are null.
    """
    spark = customers.sparkSession
    orders = context.resources.tables.location(SALES_ORDERS)
    lines = context.resources.tables.location(SALES_ORDER_LINES)
    facts = None
    if orders.exists(spark) and lines.exists(spark):
        facts = sales_facts(orders.read(spark), lines.read(spark))
    else:
        context.log.info("No sales tables yet: the sales columns of customer_360 are null")
    return build_customer_360(customers, facts)
