"""The rules every slice's checks share: each takes DataFrames and returns a Dagster check result,
plus the ready-made checks every slice puts on its layers.

A slice's ``checks.py`` declares its checks; an asset that holds what a rule needs (the frame it
just wrote, the extraction's figures) yields the result right after its write, so the check sees
exactly what the run landed.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def unique_key(asset_key: dg.AssetKey, df: DataFrame, keys: Sequence[str]) -> dg.AssetCheckResult:
    duplicates = df.groupBy(*keys).count().where("count > 1")
    sample = [r.asDict() for r in duplicates.limit(5).collect()]
    # Counted only when there are any: a passing check scans its table once.
    count = duplicates.count() if sample else 0
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="unique_key",
        passed=count == 0,
        metadata={"duplicate_keys": count, "sample": dg.MetadataValue.json(sample)},
    )


def not_null(asset_key: dg.AssetKey, df: DataFrame, columns: Sequence[str]) -> dg.AssetCheckResult:
    nulls = df.select([F.sum(F.col(c).isNull().cast("int")).alias(c) for c in columns]).collect()[0].asDict()
    nulls = {c: int(v or 0) for c, v in nulls.items()}
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="not_null_keys",
        passed=not any(nulls.values()),
        metadata={f"nulls_{c}": n for c, n in nulls.items()},
    )


def row_count_anomaly(
    asset_key: dg.AssetKey,
    todays_count: int,
    trailing_counts: Mapping[str, int],
    *,
    low: float = 0.5,
    high: float = 2.0,
    left_out: int = 0,
) -> dg.AssetCheckResult:
    """Warn when the day's row count is outside [low, high] x the median of the trailing partitions.

    ``left_out``: trailing partitions not comparable with the day, and not in ``trailing_counts``.
    """
    history = [c for c in trailing_counts.values() if c > 0]
    if len(history) < 3:
        return dg.AssetCheckResult(
            asset_key=asset_key,
            check_name="row_count_anomaly",
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "row_count": todays_count,
                "note": "fewer than 3 earlier partitions to compare with (landed as this one was)",
                "trailing_partitions_left_out": left_out,
            },
        )
    median = statistics.median(history)
    ratio = todays_count / median if median else float("inf")
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="row_count_anomaly",
        passed=low <= ratio <= high,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "row_count": todays_count,
            "trailing_median": float(median),
            "ratio_to_median": round(ratio, 3),
            "trailing_partitions": len(history),
            "trailing_partitions_left_out": left_out,
        },
    )


def reconciles_with_source(
    asset_key: dg.AssetKey,
    source: Mapping[str, int | Decimal],
    landed: Mapping[str, int | Decimal],
) -> dg.AssetCheckResult:
    """Error when the landed count or any checksum of amounts differs from the source's for the window."""
    mismatches = {k: f"source {source[k]} != landed {landed.get(k)}" for k in source if source[k] != landed.get(k)}
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="reconciles_with_source",
        passed=not mismatches,
        metadata={
            **{f"source_{k}": str(v) for k, v in source.items()},
            **{f"landed_{k}": str(v) for k, v in landed.items()},
            **({"mismatches": dg.MetadataValue.json(mismatches)} if mismatches else {}),
        },
    )


def layer_keys(assets: Iterable[dg.AssetsDefinition], *layers: str) -> list[dg.AssetKey]:
    """The keys of ``assets`` in the given layers (a key's first part), so a new table of a layer
    gets its layer's checks without being listed."""
    return sorted({key for asset in assets for key in asset.keys if key.path[0] in layers}, key=str)


def column_schema_change_checks(assets: Iterable[dg.AssetsDefinition]) -> Sequence[dg.AssetChecksDefinition]:
    """``column_schema_change`` on every silver and gold table (warning): compares the
    ``dagster/column_schema`` the Delta IO manager reports for the table after each write with the
    previous write's. The IO manager adds new columns and refuses type changes, so in practice this
    flags a column added by a source or a transform, and a table rebuilt with another schema."""
    return dg.build_column_schema_change_checks(assets=layer_keys(assets, "silver", "gold"))


def freshness_checks_on(keys: Iterable[dg.AssetKey]) -> dg.AssetSelection:
    """The freshness checks of ``keys``, for jobs to leave out. A freshness check judges the clock,
    not the rows a run wrote: inside a run that writes an old day it would report today's day as
    missing. Its sensor evaluates it, and again after each write of its asset."""
    return dg.AssetSelection.checks(*(dg.AssetCheckKey(key, "freshness_check") for key in keys))


_NOT_FINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def freshness_checks_sensor(
    checks: Sequence[dg.AssetChecksDefinition], name: str, default_status: dg.DefaultSensorStatus
) -> dg.SensorDefinition:
    """Dagster's freshness-check sensor, requesting nothing while a run it requested has not finished.

    Dagster's own sees a requested evaluation only once its run executes the check. While the
    daemon's queue holds that run (``max_concurrent_runs``, a cluster starting), each tick would
    request the same checks again: a run every 30 seconds, measured under `dagster dev`.
    """
    dagsters = dg.build_sensor_for_freshness_checks(freshness_checks=checks, name=name, default_status=default_status)

    @dg.sensor(
        name=name,
        asset_selection=dg.AssetSelection.checks(*checks),
        default_status=default_status,
        description=dagsters.description,
    )
    def _sensor(context: dg.SensorEvaluationContext):
        waiting = dg.RunsFilter(tags={"dagster/sensor_name": name}, statuses=_NOT_FINISHED)
        if context.instance.get_run_ids(waiting, limit=1):
            return dg.SkipReason("The freshness evaluation this sensor requested has not finished yet")
        tick = dagsters.evaluate_tick(context)
        return list(tick.run_requests) or dg.SkipReason(tick.skip_message)

    return _sensor
