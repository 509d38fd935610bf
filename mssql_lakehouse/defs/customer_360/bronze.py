"""Bronze Customer 360: the change events of ``dbo.Customer``, and the SQL Server feed's snapshot reads.

``bronze/customer_changes`` lands every change event of the partition's day (by commit
time) from one of two feeds, chosen by ``LAKEHOUSE_CDC_FEED``: SQL Server CDC pulled
through the source layer (``sqlserver``, the default) or Debezium events (``debezium``).
Both normalise into the same rows (see ``lib/transforms/customer_changes.py``).
``bronze/customer_snapshot`` is the SQL Server feed's initial load, in the partition of
the day its capture position was committed.
"""

import datetime as dt

import dagster as dg
from pydantic import Field
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.defs.customer_360.common import (
    CHANGES,
    CUSTOMER_CHANGES,
    GROUP,
    LANDED_FILES,
    LANDED_FOR_OTHER_DAYS,
    LANDED_LOOKBACK,
    QUARANTINE,
    SNAPSHOT,
    business_day_zone,
    in_window,
)
from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
from mssql_lakehouse.lib.asset_defaults import ERP_POOL, EXTRACTION_RETRY, SPARK_RESOURCES
from mssql_lakehouse.lib.check_rules import reconciles_with_source
from mssql_lakehouse.lib.partitions import daily_partitions, partition_window
from mssql_lakehouse.lib.sources import MssqlSource, frame_figures
from mssql_lakehouse.lib.step_cache import StepCache
from mssql_lakehouse.lib.transforms.change_positions import lsn_text
from mssql_lakehouse.lib.transforms.customer_changes import (
    DECLARED_SQL_TYPES,
    DECODE_ERROR,
    KEY,
    events_from_pairs,
    events_no_longer_delivered,
    first_delivery,
    invalid_reason,
    schema_drift,
    snapshot_pairs,
    sqlserver_pairs,
)
from mssql_lakehouse.lib.transforms.debezium import (
    DebeziumSourceKind,
    commit_time_of_events,
    debezium_pairs,
    field_report,
    file_signatures,
    landed_files,
    parse_envelopes,
    read_event_lines,
)


class CustomerChangesConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Replace the window's bronze events with what the feed delivers now, even when bronze "
        "holds events the feed no longer delivers (its landed files were pruned). Without it such a "
        "re-run is refused. The SQL Server feed's full refresh of the table is bronze/customer_snapshot.",
    )


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
        dg.AssetCheckSpec(
            "schema_drift", asset=CHANGES, description="Fields added to or missing from the source (WARN)."
        ),
        dg.AssetCheckSpec(
            "no_quarantined_events", asset=CHANGES, description="No event of the window was quarantined."
        ),
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
    with StepCache() as cache:
        yield from _land_changes(context, config, cache)


def _land_changes(context: dg.AssetExecutionContext, config: CustomerChangesConfig, cache: StepCache):
    spark = context.resources.spark.get_session()
    settings: CustomerCdcSettings = context.resources.customer_cdc
    window = partition_window(context)
    ingested_at = F.lit(dt.datetime.now(dt.UTC)).cast("timestamp")
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
        files = None
        if source.local_folder:
            # Listed once: the files recorded are exactly the files read.
            files = landed_files(source.local_folder)
            metadata[LANDED_FILES] = dg.MetadataValue.json(file_signatures(files))
        parsed = cache(parse_envelopes(read_event_lines(spark, source, files)))
        commit_time = commit_time_of_events(business_day_zone())
        readable = F.col("op").isNotNull() & F.col("source.ts_ms").isNotNull()
        lines = parsed.agg(
            F.sum(F.when(F.col("is_tombstone"), 1).otherwise(0)).alias("tombstones"),
            F.sum(F.when(~F.col("is_tombstone") & ~readable, 1).otherwise(0)).alias("unreadable"),
        ).collect()[0]
        unreadable = int(lines["unreadable"] or 0)
        windowed = parsed.where(readable).where(in_window(commit_time, window))
        if source.kind is not DebeziumSourceKind.FILES:
            # The landing took every new event, whatever its day: the sensor re-applies the days it reached.
            since = dt.datetime.now(dt.UTC) - LANDED_LOOKBACK
            landed_for = _landed_for_other_days(parsed.where(readable), commit_time, window, since)
            metadata[LANDED_FOR_OTHER_DAYS] = dg.MetadataValue.json(landed_for)
        report = field_report(windowed, DECLARED_SQL_TYPES, settings.encoding())
        pairs = debezium_pairs(windowed, report, business_day_zone())
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
    events = cache(
        events_from_pairs(pairs, settings.feed, ingested_at).withColumn(
            "__reason",
            F.coalesce(
                invalid_reason(),
                F.when(~in_window(F.col("commit_time"), window), F.lit("commit time outside the partition window")),
            ),
        )
    )
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
    landed = cache(valid).count()
    bronze = context.resources.tables.location(CHANGES)
    if not config.full_refresh and bronze.exists(spark):
        _refuse_losing_events(bronze.read(spark).where(in_window(F.col("commit_time"), window)), valid, settings.feed)
    yield dg.Output(
        valid,
        output_name="customer_changes",
        metadata={
            **metadata,
            "events_delivered": delivered,
            "duplicates_dropped": delivered - landed,
            "fields_seen": ", ".join(fields_seen),
        },
    )
    yield dg.Output(quarantine, output_name="customer_changes_quarantine")
    drift = schema_drift(fields_seen) if (fields_seen or landed) else {"added": [], "missing": []}
    yield dg.AssetCheckResult(
        asset_key=CHANGES,
        check_name="schema_drift",
        passed=not drift["added"] and not drift["missing"],
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "added_fields": ", ".join(drift["added"]),
            "missing_fields": ", ".join(drift["missing"]),
            "note": "added fields land as new columns; missing ones stay as columns with nulls",
        },
    )
    yield dg.AssetCheckResult(
        asset_key=CHANGES,
        check_name="no_quarantined_events",
        passed=quarantined == 0,
        metadata={
            "quarantined": quarantined,
            "unreadable_lines": unreadable,
            "reasons": dg.MetadataValue.json(by_reason),
        },
    )


def _landed_for_other_days(
    events: DataFrame, commit_time: Column, window: dg.TimeWindow, since: dt.datetime
) -> dict[str, float]:
    """Commit day (outside ``window``) -> when its newest event landed (epoch seconds), for the days with
    events landed since ``since``."""
    rows = (
        events.where(~in_window(commit_time, window) & (F.col("_landed_at") >= F.lit(since)))
        .groupBy(F.to_date(commit_time).alias("day"))
        .agg(F.max(F.unix_micros("_landed_at")).alias("landed"))
        .collect()
    )
    return {r["day"].isoformat(): r["landed"] / 1e6 for r in rows}


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


# The snapshot is positioned at the database's CDC max LSN when read, which on an ERP that is
# being written to is almost always in the day in progress: its partitions are the business days
# plus that day, so it can be landed now and is applied by that day's silver run once the day is over.
SNAPSHOT_DAYS = dg.DailyPartitionsDefinition(
    start_date=daily_partitions.start.strftime("%Y-%m-%d"), timezone=daily_partitions.timezone, end_offset=1
)


@dg.asset(
    key=SNAPSHOT,
    # Every snapshot read of the day is kept (merged by key and position), as silver applies each of them.
    metadata={"partition_expr": "commit_time", "write_mode": "merge", "merge_keys": [KEY, "change_position"]},
    kinds={"pyspark", "delta", "mssql"},
    check_specs=[
        dg.AssetCheckSpec(
            "reconciles_with_source",
            asset=SNAPSHOT,
            description="Row count and key and amount sums equal the table's when read.",
        )
    ],
    partitions_def=SNAPSHOT_DAYS,
    group_name=GROUP,
    pool=ERP_POOL,
    required_resource_keys=SPARK_RESOURCES | {"erp", "customer_cdc"},
)
def customer_snapshot(context: dg.AssetExecutionContext):
    """The SQL Server feed's initial load: every row of dbo.Customer as a snapshot read (``r``).

    The change tables only hold what changed since CDC was enabled, so customers unchanged
    since then reach silver through this snapshot. It is positioned at the capture
    instance's max LSN when read, and belongs to the day that LSN was committed (its
    capture day): it is run for that day's partition, and a run for any other day is
    refused, naming the capture day, before anything is written. Silver applies it with
    that day (see the ``apply_with_partition`` metadata) and treats a snapshot row equal to
    the customer's current version as no change. Run it once after enabling CDC on a table
    that already held rows, and again to re-baseline after changes were lost to the CDC
    retention. Each snapshot read is kept; re-running with nothing captured since changes
    nothing but the ingestion time.
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
    capture_day = snapshot_time.date().isoformat()
    if capture_day != context.partition_key:
        # Its rows carry the capture position's commit time; in another day's partition they would
        # be applied with the wrong day, and a snapshot of the table as of another day cannot be read.
        raise dg.Failure(
            f"{SNAPSHOT.to_user_string()} reads dbo.Customer as of the database's CDC max LSN {snapshot_lsn}, "
            f"committed {snapshot_time.isoformat()}: its capture day is {capture_day}, not {context.partition_key}. "
            f"Run partition {capture_day}.",
            metadata={"snapshot_lsn": snapshot_lsn, "capture_day": capture_day},
            allow_retries=False,
        )
    ingested_at = F.lit(dt.datetime.now(dt.UTC)).cast("timestamp")
    pairs = snapshot_pairs(extraction.df, snapshot_lsn, snapshot_time, source=erp.database)
    with extraction.compiled_if_large(spark):
        events = events_from_pairs(pairs, settings.feed, ingested_at).drop(DECODE_ERROR).localCheckpoint()
        landed = frame_figures(events, list(extraction.source_figures.sums))
    yield dg.Output(
        events,
        metadata={
            **{k: v for k, v in extraction.metadata().items() if v is not None},
            "snapshot_lsn": snapshot_lsn,
            "snapshot_time": snapshot_time.isoformat(),
            "apply_with_partition": capture_day,
            "output_rows": landed.row_count,
        },
    )
    yield reconciles_with_source(
        SNAPSHOT,
        {"row_count": extraction.source_row_count, **extraction.source_figures.sums},
        {"row_count": landed.row_count, **landed.sums},
    )
