"""Benchmark: the sales slice (the `sales_nightly` job) end to end on local Spark and Delta.

nightly:  seeds 7 days at --scale (1 = about 100,000 order lines a day) and backfills them in
          one untimed run (it gives the rolling window its history), then seeds day 8
          (yesterday) and times the nightly run for it. P3 is that run plus what its process
          paid before it: importing and building the definitions, and the JVM's start.
backfill: on a fresh lakehouse, seeds --backfill-days days (default 90) at --backfill-scale
          (default 0.2) and times one single run over them, then seeds the day after and times
          one run for it, and prints P4: the backfill's time over the day's (goal <= 3).
memory:   seeds one day at --memory-scale (default 10) and runs the nightly for it, sampling the
          resident memory of its process and that process's descendants (the driver's JVM,
          Python workers) every 0.25 s: P5 is the peak (goal <= 4 GiB).

Every run is timed in a process of its own, as Dagster's run launcher starts each run: a JVM that
ran the run before would have compiled and loaded most of what the timed run needs (on
2026-12-06 a day at scale 0.2 took 48.4 s after the 90-day run in the same process, 79.2 s and
84.1 s in its own). The JVM's start is timed apart from the run.

A run's day is seeded just before it, as the ERP has it that night: a day seeded ahead would
give the run tomorrow's changes (most of a day's orders are modified the next day, so their
lines would wait in silver for the header and be rewritten by the next run, about 25 s at
scale 1). Each part has its own temporary LAKEHOUSE_HOME (the settings are read from the
environment when the definitions are built); this script seeds the days, untimed, and runs
each of the part's runs in a subprocess of its own. "Order lines" are the rows the run wrote to
bronze.sales_order_detail. A child's logs go to a file and are shown only if it fails.

    .venv/bin/python benchmarks/sales_nightly.py [--scale 1.0] [--backfill-scale 0.2] [--backfill-days 90]
                                                 [--memory-scale 10] [--parts nightly,backfill,memory]
                                                 [--results FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Figure, process_age, wait_sampling_peak_rss, write_figures

from mssql_lakehouse_demo import seed

PARTS = ("nightly", "backfill", "memory")


def first_day(days: int) -> dt.date:
    """The first of ``days`` seeded days that end yesterday: the daily partitions end there, and a run
    for a day that has no partition yet is not what a user can launch."""
    return dt.date.today() - dt.timedelta(days=days)


def day(first: dt.date, n: int) -> str:
    """The n-th benchmark day (1-based) from ``first`` as a partition key."""
    return (first + dt.timedelta(days=n - 1)).isoformat()


def part_runs(part: str, backfill_days: int) -> list[tuple[str, int, int | None]]:
    """The part's runs in order, each (label, its first day, its last day or None for one day)."""
    return {
        "nightly": [("warm-up: backfill days 1-7, one run", 1, 7), ("nightly run, day 8", 8, None)],
        "backfill": [
            (f"backfill days 1-{backfill_days}, one run", 1, backfill_days),
            (f"single day {backfill_days + 1}", backfill_days + 1, None),
        ],
        "memory": [("nightly run, day 1", 1, None)],
    }[part]


def part_days(part: str, backfill_days: int) -> int:
    """How many days the part's runs cover."""
    _label, first, last = part_runs(part, backfill_days)[-1]
    return last or first


def run_one(part: str, index: int, home: Path, scale: float, backfill_days: int) -> dict:
    """The part's ``index``-th run, in this process; LAKEHOUSE_HOME must be set before the definitions are imported."""
    began = time.perf_counter() - process_age()  # the interpreter's start and this script's imports count
    os.environ.update(LAKEHOUSE_HOME=str(home), LAKEHOUSE_DEPLOYMENT="local")
    for var in ("LAKEHOUSE_TABLES_ROOT", "LAKEHOUSE_DEMO_ERP_DIR", "MSSQL_SERVER"):
        os.environ.pop(var, None)
    import dagster as dg
    from _common import run_partitions

    from mssql_lakehouse.definitions import build_defs
    from mssql_lakehouse.defs.sales.bronze import DETAIL_KEY
    from mssql_lakehouse.settings import LakehouseSettings

    start = first_day(part_days(part, backfill_days))
    import_seconds = time.perf_counter() - began
    began = time.perf_counter()
    defs = build_defs(LakehouseSettings.from_env(), slices=("sales", "run_alerts"))
    defs_seconds = import_seconds + time.perf_counter() - began
    began = time.perf_counter()
    defs.resources["spark"].get_session()
    jvm_seconds = time.perf_counter() - began
    (home / "dagster_home").mkdir(exist_ok=True)
    instance = dg.DagsterInstance.local_temp(str(home / "dagster_home"))
    job = defs.resolve_job_def("sales_nightly")

    label, first, last = part_runs(part, backfill_days)[index]
    result, seconds = run_partitions(
        job, instance, day(start, first), None if last is None else day(start, last), f"[{part}] {label}"
    )
    # A ranged run writes one commit and reports its row count on every partition's event.
    lines = max(
        e.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()
        if e.asset_key == DETAIL_KEY
    )
    if not lines:
        sys.exit(f"[{part}] {label} landed no order lines: the demo ERP seeded at scale {scale} has none to time")
    n_days = 1 if last is None else last - first + 1
    print(f"[{part}] {label}: {seconds:.1f} s, {lines:,} order lines, {lines / seconds:,.0f} lines/s", flush=True)
    instance.dispose()
    run = {"label": label, "scale": scale, "days": n_days, "lines": lines, "seconds": seconds}
    return {**run, "defs_seconds": defs_seconds, "jvm_seconds": jvm_seconds}


def run_child(part: str, index: int, home: Path, scale: float, backfill_days: int) -> dict:
    """Runs the part's ``index``-th run in a child process; its figures, with the peak memory of its process tree."""
    log = home.parent / f"run{index}.log"
    with log.open("w") as stderr:
        child = subprocess.Popen(
            [
                *(sys.executable, __file__, "--part", part, "--run", str(index), "--home", str(home)),
                *("--scale", str(scale), "--backfill-days", str(backfill_days)),
            ],
            stderr=stderr,
        )
        returncode, peak_rss = wait_sampling_peak_rss(child)
    if returncode != 0:
        print(f"{part} part failed (exit {returncode}); the end of its log:", file=sys.stderr)
        print("\n".join(log.read_text().splitlines()[-60:]), file=sys.stderr)
        sys.exit(1)
    return {**json.loads((home / "result.json").read_text()), "peak_rss": peak_rss}


def run_part(part: str, scale: float, backfill_days: int) -> list[dict]:
    """The part's runs, each in a process of its own; each day is seeded here (untimed) just before
    the first run that takes it."""
    with tempfile.TemporaryDirectory(prefix=f"bench_sales_{part}_") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        start, seeded, runs = first_day(part_days(part, backfill_days)), 0, []
        for index, (_label, first, last) in enumerate(part_runs(part, backfill_days)):
            through = last or first
            began = time.perf_counter()
            seed(home / "demo_erp", start + dt.timedelta(days=seeded), through - seeded, scale)
            print(
                f"[{part}] seeded days {seeded + 1}-{through} at scale {scale} in {time.perf_counter() - began:.1f} s",
                flush=True,
            )
            seeded = through
            runs.append(run_child(part, index, home, scale, backfill_days))
        return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="demo scale of the nightly part")
    parser.add_argument("--backfill-scale", type=float, default=0.2, help="demo scale of the backfill part")
    parser.add_argument("--backfill-days", type=int, default=90, help="days of the backfill part's one run")
    parser.add_argument("--memory-scale", type=float, default=10.0, help="demo scale of the memory part")
    parser.add_argument("--parts", default="nightly,backfill,memory", help="which parts to run, comma-separated")
    parser.add_argument("--results", type=Path, help="also append the P3-P5 figures to this file (report.py)")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.part:  # child: one run of a part, its figures to a file for the parent
        result = run_one(args.part, args.run, args.home, args.scale, args.backfill_days)
        (args.home / "result.json").write_text(json.dumps(result))
        return

    chosen = args.parts.split(",")
    if unknown := set(chosen) - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; the parts are {', '.join(PARTS)}")
    scales = {"nightly": args.scale, "backfill": args.backfill_scale, "memory": args.memory_scale}
    print(f"sales_nightly benchmark on {os.cpu_count()} cores (figures include any contention on them)")
    parts = {part: run_part(part, scales[part], args.backfill_days) for part in PARTS if part in chosen}

    print(
        f"\n{'run (each in a process of its own)':38} {'scale':>5} {'days':>4} {'order lines':>12} {'seconds':>8}"
        f" {'lines/s':>8} {'s/day':>7} {'imports':>8} {'JVM':>5}"
    )
    for runs in parts.values():
        for r in runs:
            print(
                f"{r['label']:38} {r['scale']:5g} {r['days']:4} {r['lines']:12,} {r['seconds']:8.1f} "
                f"{r['lines'] / r['seconds']:8,.0f} {r['seconds'] / r['days']:7.1f} {r['defs_seconds']:8.1f}"
                f" {r['jvm_seconds']:5.1f}"
            )
    figures = []
    if "nightly" in parts:
        run = parts["nightly"][-1]
        total = run["defs_seconds"] + run["jvm_seconds"] + run["seconds"]
        print(
            f"\nP3: imports and definitions {run['defs_seconds']:.1f} s + JVM start {run['jvm_seconds']:.1f} s"
            f" + the day's run {run['seconds']:.1f} s = {total:.1f} s (goal <= 30 s)"
        )
        measure = f"nightly day at scale {run['scale']:g}, {run['lines']:,} lines, with process and JVM start (s)"
        figures.append(Figure("P3", measure, f"{total:.1f}", "", f"{total:.1f} s", "<= 30 s", total <= 30))
    if "backfill" in parts:
        backfill, one = parts["backfill"]
        ratio = backfill["seconds"] / one["seconds"]
        print(
            f"\nP4: the {backfill['days']}-day run / the 1-day run: {ratio:.2f}x"
            f" (goal <= 3); per day {backfill['seconds'] / backfill['days']:.1f} s against {one['seconds']:.1f} s"
        )
        measure = f"{backfill['days']}-day backfill in one run / one day, scale {backfill['scale']:g} (s)"
        figures.append(
            Figure(
                "P4",
                measure,
                f"{backfill['seconds']:.0f} / {one['seconds']:.0f}",
                "",
                f"{ratio:.2f}x",
                "<= 3x",
                ratio <= 3,
            )
        )
    if "memory" in parts:
        run = parts["memory"][-1]
        gib = run["peak_rss"] / 2**30
        print(
            f"\nP5: peak resident memory of the nightly run at scale {run['scale']:g} ({run['lines']:,} lines),"
            f" the process and its JVM: {gib:.2f} GiB (goal <= 4 GiB); the run took {run['seconds']:.1f} s"
        )
        measure = f"peak memory, nightly day at scale {run['scale']:g}, {run['lines']:,} lines (GiB)"
        figures.append(Figure("P5", measure, f"{gib:.2f}", "", f"{gib:.2f} GiB", "<= 4 GiB", gib <= 4))
    write_figures(args.results, figures)


if __name__ == "__main__":
    main()
