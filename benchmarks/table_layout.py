"""Benchmark: the Delta table layout's cost, unpartitioned (before) against by_partition (after).

In one process, one Spark JVM, one run: seeds the demo ERP once (--days + 1 days from
2026-08-01 at --scale; 1 = about 100,000 order lines a day), then for each layout of the IO
manager (``table_layout``), on a fresh lakehouse with its own copy of that demo ERP and its own
Dagster instance:

1. a backfill of days 1..--days as one run of the `sales_nightly` job (bronze -> silver -> gold,
   SKU alerts and the checks included);
2. the nightly run of the next day;
3. data files and bytes of the main tables (DESCRIBE DETAIL, after each run), and the read
   cost: seconds to read one day (the backfill's middle day) and the whole table of
   silver/sales_order_lines and gold/daily_sku_sales with Spark (every column hashed and
   folded, so no read is answered from statistics; the best of --reads).

Wall times per run and per step (from the run's STEP_START/STEP_SUCCESS events) are printed
side by side. Before the measured runs a small untimed run (days 1-2, on a throwaway
lakehouse) warms up the JVM, so the first layout does not pay for it (--no-warmup to skip).
The figures include whatever else the machine's cores are doing.

    .venv/bin/python benchmarks/table_layout.py [--scale 0.05] [--days 90] [--reads 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
from _common import run_partitions, step_seconds
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mssql_lakehouse.defs.sales import bronze, gold, silver
from mssql_lakehouse.defs.sales import checks as sales_checks
from mssql_lakehouse.defs.sales.jobs import sales_nightly
from mssql_lakehouse.lib.io.delta_io_manager import DeltaLakePySparkIOManager
from mssql_lakehouse.lib.resources.deployment import executor_for, resources_for
from mssql_lakehouse.lib.resources.spark import SparkResource
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_demo import seed

# Far enough back that a 90-day backfill and its next day are all past partitions.
FIRST_DAY = dt.date(2026, 8, 1)
LAYOUTS = {"unpartitioned": "before", "by_partition": "after"}
TABLES = [
    "bronze/sales_order_header",
    "bronze/sales_order_detail",
    "silver/sales_order_lines",
    "gold/daily_sku_sales",
    "gold/sku_forecast_alignment",
    "gold/sku_alerts",
]
# table -> the column a reader of one day filters on
READ_TABLES = {"silver/sales_order_lines": "order_date", "gold/daily_sku_sales": "order_date"}
# Settings a developer's shell may hold that would point the benchmark's lakehouses elsewhere.
LOCAL_OVERRIDES = ("LAKEHOUSE_TABLES_ROOT", "LAKEHOUSE_DEMO_ERP_DIR", "LAKEHOUSE_ACTIVE_SITE", "MSSQL_SERVER")


def day(n: int) -> str:
    """The n-th benchmark day (1-based) as a partition key."""
    return (FIRST_DAY + dt.timedelta(days=n - 1)).isoformat()


class Lakehouse:
    """A fresh LAKEHOUSE_HOME with a copy of the seeded demo ERP, the sales slice and an IO manager of one layout."""

    def __init__(self, home: Path, demo: Path, layout: str):
        self.home = home
        shutil.copytree(demo, home / "demo_erp")
        # The local resources read LAKEHOUSE_HOME when they are built, not at import.
        os.environ.update(LAKEHOUSE_HOME=str(home), LAKEHOUSE_DEPLOYMENT="local")
        for variable in LOCAL_OVERRIDES:
            os.environ.pop(variable, None)
        resources = resources_for(LakehouseSettings.from_env())
        resources["io_manager"] = DeltaLakePySparkIOManager(
            spark=resources["spark"], tables_root=resources["tables"].tables_root, table_layout=layout
        )
        defs = dg.Definitions(
            assets=dg.load_assets_from_modules([bronze, silver, gold]),
            asset_checks=dg.load_asset_checks_from_modules([sales_checks]),
            jobs=[sales_nightly],
            resources=resources,
            executor=executor_for(LakehouseSettings.from_env()),
        )
        self.job = defs.resolve_job_def("sales_nightly")
        (home / "dagster_home").mkdir()
        self.instance = dg.DagsterInstance.local_temp(str(home / "dagster_home"))

    def path(self, table: str) -> str:
        return str(self.home / "tables" / table)

    def run(self, label: str, first: int, last: int | None = None) -> dict[str, Any]:
        result, seconds = run_partitions(
            self.job, self.instance, day(first), None if last is None else day(last), label
        )
        events = result.get_asset_materialization_events()
        layouts = {e.asset_key.to_user_string(): e.materialization.metadata["delta_layout"].value for e in events}
        retries = sum(e.materialization.metadata["delta_conflict_retries"].value for e in events)
        print(f"  {label}: {seconds:.1f} s", flush=True)
        return {
            "label": label,
            "days": 1 if last is None else last - first + 1,
            "seconds": seconds,
            "steps": step_seconds(self.instance, result.run_id),
            "delta_layout": {t: layouts[t] for t in TABLES},
            "delta_conflict_retries": retries,
        }


def files(spark: SparkSession, path: str) -> dict[str, int]:
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
    return {"files": detail["numFiles"], "bytes": detail["sizeInBytes"]}


def read_seconds(spark: SparkSession, path: str, column: str | None, value: str | None, reads: int) -> float:
    """Best of ``reads`` full reads (every column hashed), of one day when ``column`` is given."""
    best = float("inf")
    for _ in range(reads):
        began = time.perf_counter()
        df = spark.read.format("delta").load(path)
        if column:
            df = df.where(F.col(column) == F.lit(value).cast("date"))
        df.select(F.bit_xor(F.xxhash64(*df.columns))).collect()
        best = min(best, time.perf_counter() - began)
    return best


def measure(layout: str, root: Path, demo: Path, days: int, reads: int, spark: SparkSession) -> dict[str, Any]:
    print(f"[{layout} = {LAYOUTS[layout]}]", flush=True)
    lakehouse = Lakehouse(root / layout, demo, layout)
    backfill = lakehouse.run(f"backfill days 1-{days}, one run", 1, days)
    after_backfill = {t: files(spark, lakehouse.path(t)) for t in TABLES}
    nightly = lakehouse.run(f"nightly run, day {days + 1}", days + 1)
    after_nightly = {t: files(spark, lakehouse.path(t)) for t in TABLES}
    middle = day((days + 1) // 2)
    read = {
        t: {
            "one_day": read_seconds(spark, lakehouse.path(t), column, middle, reads),
            "whole_table": read_seconds(spark, lakehouse.path(t), None, None, reads),
        }
        for t, column in READ_TABLES.items()
    }
    lakehouse.instance.dispose()
    return {
        "runs": {"backfill": backfill, "nightly": nightly},
        "files_after_backfill": after_backfill,
        "files_after_nightly": after_nightly,
        "read_seconds": read,
        "read_day": middle,
    }


def report(figures: dict[str, Any]) -> None:
    before, after = (figures["layouts"][layout] for layout in LAYOUTS)
    print(
        f"\nscale {figures['scale']}, backfill of {figures['days']} days + 1 nightly day; "
        f"load average {figures['load_before']} before, {figures['load_after']} after"
    )
    print(f"\n{'wall seconds':44} {'before':>9} {'after':>9} {'after/before':>12}")
    for run in ("backfill", "nightly"):
        b, a = before["runs"][run], after["runs"][run]
        print(f"{b['label']:44} {b['seconds']:9.1f} {a['seconds']:9.1f} {a['seconds'] / b['seconds']:12.2f}")
        for step in sorted(b["steps"], key=b["steps"].get, reverse=True):
            sb, sa = b["steps"][step], a["steps"].get(step, float("nan"))
            print(f"  {step:42} {sb:9.1f} {sa:9.1f}")
        print(f"  {'Delta conflict retries':42} {b['delta_conflict_retries']:9} {a['delta_conflict_retries']:9}")

    print(f"\n{'data files (MB)':28} {'before: backfill':>17} {'nightly':>16} {'after: backfill':>17} {'nightly':>16}")
    for t in TABLES:
        cells = [
            f"{s[t]['files']:6} ({s[t]['bytes'] / 1e6:7.2f})"
            for s in (
                before["files_after_backfill"],
                before["files_after_nightly"],
                after["files_after_backfill"],
                after["files_after_nightly"],
            )
        ]
        print(f"{t:28} {cells[0]:>17} {cells[1]:>16} {cells[2]:>17} {cells[3]:>16}")

    print(f"\n{'read seconds (best of ' + str(figures['reads']) + ')':48} {'before':>9} {'after':>9}")
    for t in READ_TABLES:
        for what, label in (("one_day", f"one day ({before['read_day']})"), ("whole_table", "whole table")):
            print(f"{t + ', ' + label:48} {before['read_seconds'][t][what]:9.2f} {after['read_seconds'][t][what]:9.2f}")

    print("\nlayouts (the IO manager's delta_layout metadata):")
    for layout, figures_of in figures["layouts"].items():
        for t, described in figures_of["runs"]["backfill"]["delta_layout"].items():
            print(f"  {layout:14} {t:28} {described}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05, help="demo scale (1 = about 100,000 order lines a day)")
    parser.add_argument("--days", type=int, default=90, help="days of the backfill run; the nightly run is the next")
    parser.add_argument("--reads", type=int, default=3, help="each read is timed this many times; the best is kept")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed 2-day run that warms up the JVM")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_table_layout_") as tmp:
        root, demo = Path(tmp), Path(tmp) / "demo_erp"
        began = time.perf_counter()
        seed(demo, FIRST_DAY, args.days + 1, args.scale)
        print(
            f"seeded {args.days + 1} days from {FIRST_DAY} at scale {args.scale} "
            f"in {time.perf_counter() - began:.1f} s on {os.cpu_count()} cores",
            flush=True,
        )
        os.environ["LAKEHOUSE_HOME"] = str(root)  # Spark's warehouse folder goes there too
        spark = SparkResource().get_session()  # the JVM starts untimed
        if not args.no_warmup:
            print("[warm-up, untimed]", flush=True)
            warmup = Lakehouse(root / "warmup", demo, "by_partition")
            warmup.run("days 1-2", 1, 2)
            warmup.instance.dispose()
        layouts = {layout: measure(layout, root, demo, args.days, args.reads, spark) for layout in LAYOUTS}

    figures = {
        "scale": args.scale,
        "days": args.days,
        "first_day": FIRST_DAY.isoformat(),
        "reads": args.reads,
        "cores": os.cpu_count(),
        "load_before": " ".join(f"{x:.2f}" for x in load_before),
        "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "layouts": layouts,
    }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
        print(f"figures written to {args.json}")
    report(figures)


if __name__ == "__main__":
    main()
