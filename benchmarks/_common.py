"""Helpers the benchmarks share: running a partitioned job, reading a run's step times, adding Spark settings."""

from __future__ import annotations

import dataclasses
import sys
import time

import dagster as dg


def run_partitions(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    first: str,
    last: str | None,
    label: str,
    run_config: dict | None = None,
) -> tuple[dg.ExecuteInProcessResult, float]:
    """Runs ``job`` for the day ``first`` (or the range ``first``..``last`` as one run).

    Exits naming the failed steps.
    """
    if last is None:
        kwargs = {"partition_key": first}
    else:
        kwargs = {"tags": {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}}
    began = time.perf_counter()
    result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=run_config, **kwargs)
    seconds = time.perf_counter() - began
    if not result.success:
        failures = [
            f"{e.step_key}: {e.step_failure_data.error.message.strip()}" for e in result.all_events if e.is_step_failure
        ]
        failures = failures or [e.message for e in result.all_events if e.is_failure]
        sys.exit(f"{label} FAILED:\n  " + "\n  ".join(failures))
    return result, seconds


def step_intervals(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    """Each step's start and end time, from its STEP_START to its STEP_SUCCESS or STEP_FAILURE event."""
    started: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
            intervals[event.step_key] = (started[event.step_key], entry.timestamp)
    return intervals


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Wall seconds of each step of a run."""
    return {step: end - start for step, (start, end) in step_intervals(instance, run_id).items()}


def with_spark_conf(settings, conf: dict[str, str]):
    """``settings`` (a ``LakehouseSettings``) with ``conf`` added to its local Spark settings, applied last."""
    local = dataclasses.replace(settings.local_spark, conf={**settings.local_spark.conf, **conf})
    return dataclasses.replace(settings, local_spark=local)
