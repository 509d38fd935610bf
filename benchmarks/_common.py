"""Helpers the benchmarks share: running a partitioned job, reading a run's step times, adding Spark settings,
the figures `make bench` gathers and a process tree's peak memory."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

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


@dataclasses.dataclass(frozen=True)
class Figure:
    """One row of the table `make bench` prints (benchmarks/report.py): a goal of #15 and what was measured."""

    goal: str
    """P1 to P5."""
    measure: str
    project: str
    peer: str
    """The peer's figure, or "" where the goal has no peer."""
    ratio: str
    """The figure the goal is about, as measured ("0.38x", "84.2 s"...)."""
    target: str
    met: bool


def write_figures(path: Path | None, figures: list[Figure]) -> None:
    """Appends ``figures`` to ``path`` (JSON lines) for report.py; nothing when the benchmark runs alone."""
    if path is None:
        return
    with path.open("a") as out:
        for figure in figures:
            out.write(json.dumps(dataclasses.asdict(figure)) + "\n")


def read_figures(path: Path) -> list[Figure]:
    return [Figure(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def process_age() -> float:
    """Seconds since this process started (Linux: its start time in /proc/self/stat against the uptime)."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - ticks / os.sysconf("SC_CLK_TCK")


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` and all its descendants (the driver's JVM, Python workers), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def wait_sampling_peak_rss(process: subprocess.Popen, interval: float = 0.25) -> tuple[int, int]:
    """Waits for ``process``, sampling the resident memory of its process tree; (return code, peak bytes)."""
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_bytes(process.pid))
        time.sleep(interval)
    return process.returncode, peak
