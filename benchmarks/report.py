"""`make bench`: runs the benchmarks of the performance goals P1-P5 and prints them in one table.

Each benchmark runs as its own process, as when run alone (its output is shown as it goes), and
appends its figures to a file this script reads at the end:

P1  extraction_peers.py   bronze extraction against dlt and DuckDB -> delta-rs
P2  merge_peers.py        the silver merge against delta-rs's
P3  sales_nightly.py      the nightly day at scale 1, process and JVM start included
P4  sales_nightly.py      a 90-day backfill in one run against one day
P5  sales_nightly.py      peak memory of the nightly day at scale 10

--smoke runs each at a small size to check that the benchmarks work: its figures are not the
goals' sizes. The local Spark settings come from the environment, as for any run.

    .venv/bin/python benchmarks/report.py [--smoke]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import read_figures

HERE = Path(__file__).parent

FULL = {
    "extraction_peers.py": [],
    "merge_peers.py": [],
    "sales_nightly.py": [],
}
SMOKE = {
    "extraction_peers.py": ["--days", "1", "--scale", "0.05"],
    "merge_peers.py": ["--rows", "100000", "--days", "10"],
    "sales_nightly.py": [
        "--scale",
        "0.02",
        "--backfill-scale",
        "0.01",
        "--backfill-days",
        "3",
        "--memory-scale",
        "0.1",
    ],
}


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.machine()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes, to check that the benchmarks run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_report_") as tmp:
        results = Path(tmp) / "figures.jsonl"
        for script, options in (SMOKE if args.smoke else FULL).items():
            print(f"\n=== {script} {' '.join(options)}", flush=True)
            run = subprocess.run([sys.executable, str(HERE / script), *options, "--results", str(results)])
            if run.returncode != 0:
                sys.exit(f"{script} failed (exit {run.returncode})")
        figures = read_figures(results)

    tuning = os.environ.get("LAKEHOUSE_SPARK_TUNING", "small_data")
    print(f"\nPerformance goals (#15), {dt.date.today()}, {machine()}, local Spark tuning {tuning}")
    if args.smoke:
        print("SMOKE SIZES: these figures are not the goals' sizes")
    header = ("goal", "measure", "project", "peer", "figure", "goal", "met")
    rows = [(f.goal, f.measure, f.project, f.peer, f.ratio, f.target, "yes" if f.met else "no") for f in figures]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
