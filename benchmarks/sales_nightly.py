"""Benchmark: the sales slice (the `sales_nightly` job) end to end on local Spark and Delta.

nightly:  seeds 8 days from 2026-10-01 at --scale (1 = about 100,000 order lines a day),
          backfills days 1-7 in one untimed run (warm-up; it also gives the rolling window
          its history), then times the nightly run for day 8.
backfill: on a fresh lakehouse, seeds --backfill-days + 1 days (default 90 + 1) at
          --backfill-scale (default 0.2), times one single run over the first --backfill-days
          days, then one run for the day after, and prints P4: the backfill's time over the
          day's (goal <= 3).

Each part runs in a subprocess of this script with its own temporary LAKEHOUSE_HOME (the
settings are read from the environment when the definitions are built). Seeds and the Spark start are not timed;
"order lines" are the rows the run wrote to bronze.sales_order_detail. The child's logs go
to a file and are shown only if it fails.

    .venv/bin/python benchmarks/sales_nightly.py [--scale 1.0] [--backfill-scale 0.2] [--backfill-days 90]
                                                 [--skip-backfill]
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

FIRST_DAY = dt.date(2026, 10, 1)


def day(n: int) -> str:
    """The n-th benchmark day (1-based) as a partition key."""
    return (FIRST_DAY + dt.timedelta(days=n - 1)).isoformat()


def run_part(part: str, home: Path, scale: float, backfill_days: int) -> dict:
    """One part, in this process; LAKEHOUSE_HOME must be set before the definitions are imported."""
    os.environ.update(LAKEHOUSE_HOME=str(home), LAKEHOUSE_DEPLOYMENT="local")
    for var in ("LAKEHOUSE_TABLES_ROOT", "LAKEHOUSE_DEMO_ERP_DIR", "MSSQL_SERVER"):
        os.environ.pop(var, None)
    import dagster as dg
    from _common import run_partitions

    from mssql_lakehouse.definitions import build_defs
    from mssql_lakehouse.defs.sales.bronze import DETAIL_KEY
    from mssql_lakehouse.settings import LakehouseSettings
    from mssql_lakehouse_demo import seed

    days = 8 if part == "nightly" else backfill_days + 1
    began = time.perf_counter()
    seed(home / "demo_erp", FIRST_DAY, days, scale)
    seed_seconds = time.perf_counter() - began
    print(f"[{part}] seeded {days} days at scale {scale} in {seed_seconds:.1f} s", flush=True)

    defs = build_defs(LakehouseSettings.from_env(), slices=("sales", "run_alerts"))
    defs.resources["spark"].get_session()  # start the JVM untimed
    (home / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(home / "dagster_home"))
    job = defs.resolve_job_def("sales_nightly")

    def timed(label: str, first: int, last: int | None = None) -> dict:
        result, seconds = run_partitions(
            job, instance, day(first), None if last is None else day(last), f"[{part}] {label}"
        )
        # A ranged run writes one commit and reports its row count on every partition's event.
        lines = max(
            e.materialization.metadata["dagster/row_count"].value
            for e in result.get_asset_materialization_events()
            if e.asset_key == DETAIL_KEY
        )
        n_days = 1 if last is None else last - first + 1
        print(f"[{part}] {label}: {seconds:.1f} s, {lines:,} order lines, {lines / seconds:,.0f} lines/s", flush=True)
        return {"label": label, "scale": scale, "days": n_days, "lines": lines, "seconds": seconds}

    if part == "nightly":
        runs = [timed("warm-up: backfill days 1-7, one run", 1, 7), timed("nightly run, day 8", 8)]
    else:
        runs = [
            timed(f"backfill days 1-{backfill_days}, one run", 1, backfill_days),
            timed(f"single day {backfill_days + 1}", backfill_days + 1),
        ]
    instance.dispose()
    return {"seed_seconds": seed_seconds, "runs": runs}


def run_in_subprocess(part: str, scale: float, backfill_days: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench_sales_{part}_") as tmp:
        home, log = Path(tmp) / "home", Path(tmp) / "child.log"
        home.mkdir()
        with log.open("w") as stderr:
            child = subprocess.run(
                [
                    *(sys.executable, __file__, "--part", part, "--home", str(home)),
                    *("--scale", str(scale), "--backfill-days", str(backfill_days)),
                ],
                stderr=stderr,
            )
        if child.returncode != 0:
            print(f"{part} part failed (exit {child.returncode}); the end of its log:", file=sys.stderr)
            print("\n".join(log.read_text().splitlines()[-60:]), file=sys.stderr)
            sys.exit(1)
        return json.loads((home / "result.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="demo scale of the nightly part")
    parser.add_argument("--backfill-scale", type=float, default=0.2, help="demo scale of the backfill part")
    parser.add_argument("--backfill-days", type=int, default=90, help="days of the backfill part's one run")
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--part", choices=["nightly", "backfill"], help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.part:  # child: one part, results to a file for the parent
        result = run_part(args.part, args.home, args.scale, args.backfill_days)
        (args.home / "result.json").write_text(json.dumps(result))
        return

    print(f"sales_nightly benchmark on {os.cpu_count()} cores (figures include any contention on them)")
    parts = {"nightly": run_in_subprocess("nightly", args.scale, args.backfill_days)}
    if not args.skip_backfill:
        print(f"backfill part runs at --backfill-scale {args.backfill_scale} (not --scale) to keep it within minutes")
        parts["backfill"] = run_in_subprocess("backfill", args.backfill_scale, args.backfill_days)

    print(f"\n{'run':38} {'scale':>5} {'days':>4} {'order lines':>12} {'seconds':>8} {'lines/s':>8} {'s/day':>7}")
    for part, result in parts.items():
        print(f"{part + ' seed':38} {'':>5} {'':>4} {'':>12} {result['seed_seconds']:8.1f}")
        for r in result["runs"]:
            print(
                f"{r['label']:38} {r['scale']:5g} {r['days']:4} {r['lines']:12,} {r['seconds']:8.1f} "
                f"{r['lines'] / r['seconds']:8,.0f} {r['seconds'] / r['days']:7.1f}"
            )
    if "backfill" in parts:
        backfill, one = parts["backfill"]["runs"]
        print(
            f"\nP4: the {backfill['days']}-day run / the 1-day run: {backfill['seconds'] / one['seconds']:.2f}x"
            f" (goal <= 3); per day {backfill['seconds'] / backfill['days']:.1f} s against {one['seconds']:.1f} s"
        )


if __name__ == "__main__":
    main()
