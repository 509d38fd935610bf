"""Benchmark: the sales slice (the `sales_nightly` job) end to end on local Spark and Delta.

nightly:  seeds 7 days at --scale (1 = about 100,000 order lines a day) and backfills them in
          one untimed run (warm-up; it also gives the rolling window its history), then seeds
          day 8 (yesterday) and times the nightly run for it. P3 is that run plus what the
          process paid before it: importing and building the definitions, and the JVM's start.
backfill: on a fresh lakehouse, seeds --backfill-days days (default 90) at --backfill-scale
          (default 0.2) and times one single run over them, then seeds the day after and times
          one run for it, and prints P4: the backfill's time over the
          day's (goal <= 3).
memory:   seeds one day at --memory-scale (default 10) and runs the nightly for it in a fresh
          process, sampling the resident memory of that process and its descendants (the
          driver's JVM, Python workers) every 0.25 s: P5 is the peak (goal <= 4 GiB).

A run's day is seeded just before it, as the ERP has it that night: a day seeded ahead would
give the run tomorrow's changes (most of a day's orders are modified the next day, so their
lines would wait in silver for the header and be rewritten by the next run, about 25 s at
scale 1). Each part runs in a subprocess of this script with its own temporary LAKEHOUSE_HOME
(the settings are read from the environment when the definitions are built), the days before
its last run seeded beforehand by this script. Seeds are not timed;
"order lines" are the rows the run wrote to bronze.sales_order_detail. The child's logs go
to a file and are shown only if it fails.

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


def part_days(part: str, backfill_days: int) -> int:
    return {"nightly": 8, "backfill": backfill_days + 1, "memory": 1}[part]


def run_part(part: str, home: Path, scale: float, backfill_days: int) -> dict:
    """One part, in this process; LAKEHOUSE_HOME must be set before the definitions are imported."""
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
    (home / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(home / "dagster_home"))
    job = defs.resolve_job_def("sales_nightly")

    def seed_day(n: int) -> None:
        seed(home / "demo_erp", dt.date.fromisoformat(day(start, n)), 1, scale)

    def timed(label: str, first: int, last: int | None = None) -> dict:
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
        return {"label": label, "scale": scale, "days": n_days, "lines": lines, "seconds": seconds}

    if part == "nightly":
        runs = [timed("warm-up: backfill days 1-7, one run", 1, 7)]
        seed_day(8)
        runs.append(timed("nightly run, day 8", 8))
    elif part == "backfill":
        runs = [timed(f"backfill days 1-{backfill_days}, one run", 1, backfill_days)]
        seed_day(backfill_days + 1)
        runs.append(timed(f"single day {backfill_days + 1}", backfill_days + 1))
    else:
        runs = [timed("nightly run, day 1, fresh process", 1)]
    instance.dispose()
    return {"defs_seconds": defs_seconds, "jvm_seconds": jvm_seconds, "runs": runs}


def run_in_subprocess(part: str, scale: float, backfill_days: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench_sales_{part}_") as tmp:
        home, log = Path(tmp) / "home", Path(tmp) / "child.log"
        home.mkdir()
        # Seeded here, not in the child, so that the memory part's peak leaves the seed out; the
        # child seeds the last day of the other parts after the runs before it.
        days = part_days(part, backfill_days)
        ahead = days if part == "memory" else days - 1
        began = time.perf_counter()
        seed(home / "demo_erp", first_day(days), ahead, scale)
        seed_seconds = time.perf_counter() - began
        print(f"[{part}] seeded {ahead} days at scale {scale} in {seed_seconds:.1f} s", flush=True)
        with log.open("w") as stderr:
            child = subprocess.Popen(
                [
                    *(sys.executable, __file__, "--part", part, "--home", str(home)),
                    *("--scale", str(scale), "--backfill-days", str(backfill_days)),
                ],
                stderr=stderr,
            )
            returncode, peak_rss = wait_sampling_peak_rss(child)
        if returncode != 0:
            print(f"{part} part failed (exit {returncode}); the end of its log:", file=sys.stderr)
            print("\n".join(log.read_text().splitlines()[-60:]), file=sys.stderr)
            sys.exit(1)
        return {**json.loads((home / "result.json").read_text()), "seed_seconds": seed_seconds, "peak_rss": peak_rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="demo scale of the nightly part")
    parser.add_argument("--backfill-scale", type=float, default=0.2, help="demo scale of the backfill part")
    parser.add_argument("--backfill-days", type=int, default=90, help="days of the backfill part's one run")
    parser.add_argument("--memory-scale", type=float, default=10.0, help="demo scale of the memory part")
    parser.add_argument("--parts", default="nightly,backfill,memory", help="which parts to run, comma-separated")
    parser.add_argument("--results", type=Path, help="also append the P3-P5 figures to this file (report.py)")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.part:  # child: one part, results to a file for the parent
        result = run_part(args.part, args.home, args.scale, args.backfill_days)
        (args.home / "result.json").write_text(json.dumps(result))
        return

    chosen = args.parts.split(",")
    if unknown := set(chosen) - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; the parts are {', '.join(PARTS)}")
    scales = {"nightly": args.scale, "backfill": args.backfill_scale, "memory": args.memory_scale}
    print(f"sales_nightly benchmark on {os.cpu_count()} cores (figures include any contention on them)")
    parts = {part: run_in_subprocess(part, scales[part], args.backfill_days) for part in PARTS if part in chosen}

    print(f"\n{'run':38} {'scale':>5} {'days':>4} {'order lines':>12} {'seconds':>8} {'lines/s':>8} {'s/day':>7}")
    for part, result in parts.items():
        print(f"{part + ' seed':38} {'':>5} {'':>4} {'':>12} {result['seed_seconds']:8.1f}")
        print(f"{part + ' imports and definitions':38} {'':>5} {'':>4} {'':>12} {result['defs_seconds']:8.1f}")
        print(f"{part + ' JVM start':38} {'':>5} {'':>4} {'':>12} {result['jvm_seconds']:8.1f}")
        for r in result["runs"]:
            print(
                f"{r['label']:38} {r['scale']:5g} {r['days']:4} {r['lines']:12,} {r['seconds']:8.1f} "
                f"{r['lines'] / r['seconds']:8,.0f} {r['seconds'] / r['days']:7.1f}"
            )
    figures = []
    if "nightly" in parts:
        nightly = parts["nightly"]
        run = nightly["runs"][-1]
        total = nightly["defs_seconds"] + nightly["jvm_seconds"] + run["seconds"]
        print(
            f"\nP3: imports and definitions {nightly['defs_seconds']:.1f} s + JVM start {nightly['jvm_seconds']:.1f} s"
            f" + the day's run {run['seconds']:.1f} s = {total:.1f} s (goal <= 30 s)"
        )
        measure = f"nightly day at scale {run['scale']:g}, {run['lines']:,} lines, with process and JVM start (s)"
        figures.append(Figure("P3", measure, f"{total:.1f}", "", f"{total:.1f} s", "<= 30 s", total <= 30))
    if "backfill" in parts:
        backfill, one = parts["backfill"]["runs"]
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
        memory = parts["memory"]
        run, gib = memory["runs"][-1], memory["peak_rss"] / 2**30
        print(
            f"\nP5: peak resident memory of the nightly run at scale {run['scale']:g} ({run['lines']:,} lines),"
            f" the process and its JVM: {gib:.2f} GiB (goal <= 4 GiB); the run took {run['seconds']:.1f} s"
        )
        measure = f"peak memory, nightly day at scale {run['scale']:g}, {run['lines']:,} lines (GiB)"
        figures.append(Figure("P5", measure, f"{gib:.2f}", "", f"{gib:.2f} GiB", "<= 4 GiB", gib <= 4))
    write_figures(args.results, figures)


if __name__ == "__main__":
    main()
