"""Benchmark: where a nightly sales run spends its time, step by step, in Spark jobs and seconds.

Seeds --days - 1 demo days at --scale up to the day before yesterday and backfills them in one run
(untimed, or profiled as well with --backfill), then seeds yesterday and runs `sales_nightly` for
it (a day seeded ahead would give the runs before it tomorrow's changes; see sales_nightly.py).
Spark's event log gives every job's submission time and call site; the Dagster event log gives
each step's start and end, so each job is counted in its step. The day runs in the process that
ran the backfill, with a warm JVM: a run in a process of its own, as Dagster launches runs, also
pays the JVM's warm-up (31 s more for a day at scale 0.2 on 2026-12-06; sales_nightly.py times that).

    .venv/bin/python benchmarks/step_profile.py [--scale 0.05] [--days 3] [--sites] [--backfill] [--conf KEY=VALUE ...]

The local Spark settings come from the environment as for any run (LAKEHOUSE_SPARK_TUNING, ...).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def spark_jobs(event_dir: Path) -> list[tuple[float, float, str]]:
    """(submission time in s, seconds to completion, call site) of every job in the event logs under ``event_dir``."""
    started: dict[int, tuple[float, str]] = {}
    ended: dict[int, float] = {}
    for log in (path for path in event_dir.rglob("*") if path.is_file() and not path.name.startswith(".")):
        for line in log.read_text().splitlines():
            event = json.loads(line)
            if event.get("Event") == "SparkListenerJobEnd":
                ended[event["Job ID"]] = event["Completion Time"] / 1000
            if event.get("Event") != "SparkListenerJobStart":
                continue
            properties = event.get("Properties") or {}
            site = properties.get("spark.job.description") or properties.get("callSite.short")
            if not site:
                stages = event.get("Stage Infos") or [{}]
                site = stages[-1].get("Stage Name", "?")
            started[event["Job ID"]] = (event["Submission Time"] / 1000, site)
    return [(at, ended.get(job, at) - at, site) for job, (at, site) in started.items()]


def profile(
    label: str,
    seconds: float,
    intervals: dict[str, tuple[float, float]],
    jobs: list[tuple[float, float, str]],
    sites: bool,
) -> None:
    """Each step's Spark jobs (those submitted between its start and end) and seconds; with ``sites``,
    its jobs by call site with their seconds (jobs may overlap, so these can add up to more)."""
    print(f"\n{label}: {seconds:.1f} s in all, {len(intervals)} steps")
    print(f"{'step':58} {'jobs':>5} {'seconds':>8}")
    total_jobs = 0
    for step, (start, end) in sorted(intervals.items(), key=lambda item: item[1][0]):
        inside = [(took, site) for at, took, site in jobs if start <= at <= end]
        total_jobs += len(inside)
        print(f"{step:58} {len(inside):5} {end - start:8.2f}")
        if sites:
            count, took = collections.Counter(), collections.Counter()
            for job_seconds, site in inside:
                count[site] += 1
                took[site] += job_seconds
            for site, job_seconds in took.most_common():
                print(f"    {count[site]:3} x {job_seconds:6.2f} s  {site}")
    step_total = sum(end - start for start, end in intervals.values())
    print(f"{'all steps':58} {total_jobs:5} {step_total:8.2f}")
    print(f"{'mean per step':58} {total_jobs / max(len(intervals), 1):5.1f} {step_total / max(len(intervals), 1):8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--days", type=int, default=3, help="days seeded; all but the last are backfilled untimed")
    parser.add_argument("--sites", action="store_true", help="list each step's jobs by call site")
    parser.add_argument("--backfill", action="store_true", help="profile the backfill run of the first days too")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark setting to try")
    args = parser.parse_args()

    # The last day is yesterday: daily partitions end there.
    first_day = dt.date.today() - dt.timedelta(days=args.days)
    tmp = Path(tempfile.mkdtemp(prefix="bench_steps_"))
    home, events = tmp / "home", tmp / "spark-events"
    events.mkdir(parents=True)
    os.environ.update(LAKEHOUSE_HOME=str(home), LAKEHOUSE_DEPLOYMENT="local")
    for var in ("LAKEHOUSE_TABLES_ROOT", "LAKEHOUSE_DEMO_ERP_DIR", "MSSQL_SERVER"):
        os.environ.pop(var, None)

    import dagster as dg
    from _common import run_partitions, step_intervals, with_spark_conf

    from mssql_lakehouse.definitions import build_defs
    from mssql_lakehouse.lib.resources.spark import SparkResource
    from mssql_lakehouse.settings import LakehouseSettings
    from mssql_lakehouse_demo import seed

    if args.days > 1:
        seed(home / "demo_erp", first_day, args.days - 1, args.scale)
    settings = LakehouseSettings.from_env()
    began = time.perf_counter()
    event_log = {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.compress": "false",
        "spark.eventLog.rolling.enabled": "false",
        "spark.eventLog.dir": events.as_uri(),
        **dict(setting.split("=", 1) for setting in args.conf),
    }
    SparkResource.from_settings(with_spark_conf(settings, event_log)).get_session()
    print(f"JVM and Spark session start: {time.perf_counter() - began:.1f} s", file=sys.stderr)
    (home / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(home / "dagster_home"))
    job = build_defs(settings, slices=("sales", "run_alerts")).resolve_job_def("sales_nightly")

    def day(n: int) -> str:
        return (first_day + dt.timedelta(days=n - 1)).isoformat()

    backfill = None
    if args.days > 1:
        backfill = run_partitions(job, instance, day(1), day(args.days - 1), "warm-up backfill")
    seed(home / "demo_erp", dt.date.fromisoformat(day(args.days)), 1, args.scale)
    label = f"nightly, {day(args.days)} (scale {args.scale})"
    result, seconds = run_partitions(job, instance, day(args.days), None, label)
    # The event log is flushed as jobs run; stopping the session closes it.
    from pyspark.sql import SparkSession

    SparkSession.getActiveSession().stop()
    jobs = spark_jobs(events)
    if args.backfill and backfill:
        backfill_result, backfill_seconds = backfill
        backfill_label = f"backfill, {day(1)} to {day(args.days - 1)} in one run (scale {args.scale})"
        profile(backfill_label, backfill_seconds, step_intervals(instance, backfill_result.run_id), jobs, args.sites)
    profile(label, seconds, step_intervals(instance, result.run_id), jobs, args.sites)


if __name__ == "__main__":
    main()
