"""Benchmark P1: bronze extraction of Sales.SalesOrderDetail, this project against dlt and a lower bound.

Seeds --days demo days at --scale (10 days at scale 1: about a million order lines; untimed), then
lands the same rows as a Delta table three ways, each in a fresh process timed from the outside,
so the process's start (and the JVM's, for Spark) counts as it does for every Dagster run ("fresh":
from the process's start to the end of its first landing):

project      the source layer (parallel JDBC reads of the demo ERP) writing Delta with Spark, with
             compiled expressions above 50,000 rows as the bronze assets run it; the same process
             then extracts again, which is what a warm JVM pays
dlt          ``sql_table`` with its pyarrow backend, writing Delta (filesystem destination).
             dlt reflects its source with SQLAlchemy, which does not work on DuckDB 2 through
             ``duckdb_engine``: it reads the same rows copied into SQLite (the copy is untimed)
lower bound  DuckDB -> Arrow -> ``deltalake`` (delta-rs), then again in the same process (warm)

dlt runs in its own environment (--peers-venv, created on first use with dlt, SQLAlchemy and
delta-rs from PyPI), so it never shares the project's dependencies.

    .venv/bin/python benchmarks/extraction_peers.py [--days 10] [--scale 1.0] [--conf KEY=VALUE ...]

The project's local Spark settings come from the environment as for any run: with the default
tuning (small_data) and with LAKEHOUSE_SPARK_TUNING=spark_defaults, the one for real volumes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_DAY = dt.date(2026, 10, 1)
TABLE = '"Sales"."SalesOrderDetail"'
PEERS = ("dlt[deltalake]==1.31.0", "sqlalchemy>=2,<3")
DEFAULT_PEERS_VENV = Path(__file__).resolve().parent.parent / ".venv-bench"


# -- the contenders, each run in its own process -------------------------------------------------


def project(erp: str, out: str, first: str, days: str, conf: str) -> dict:
    from _common import with_spark_conf

    from mssql_lakehouse.defs.sales.bronze import SALES_ORDER_DETAIL
    from mssql_lakehouse.lib.resources.spark import SparkResource
    from mssql_lakehouse.lib.sources import MssqlSource
    from mssql_lakehouse.settings import LakehouseSettings

    settings = LakehouseSettings.from_env()
    began = time.perf_counter()
    spark = SparkResource.from_settings(with_spark_conf(settings, json.loads(conf))).get_session()
    jvm_seconds = time.perf_counter() - began
    source = MssqlSource.demo(erp, settings)
    start = dt.datetime.fromisoformat(first)
    window = (start, start + dt.timedelta(days=int(days)))
    seconds, landed_at = [], None
    for run in ("first", "warm"):
        began = time.perf_counter()
        extraction = source.extract(spark, SALES_ORDER_DETAIL, window=window)
        # As the bronze asset and the IO manager do: a large extraction compiles its expressions.
        with extraction.compiled_if_large(spark):
            extraction.df.write.format("delta").mode("overwrite").save(f"{out}/{run}")
        seconds.append(time.perf_counter() - began)
        landed_at = landed_at or time.time()
    return {
        "rows": spark.read.format("delta").load(f"{out}/first").count(),
        "landed_at": landed_at,
        "jvm_seconds": jvm_seconds,
        "first_seconds": seconds[0],
        "warm_seconds": seconds[1],
    }


def lower_bound(erp: str, out: str) -> dict:
    import duckdb
    from deltalake import write_deltalake

    seconds, landed_at = [], None
    for run in ("first", "warm"):
        began = time.perf_counter()
        with duckdb.connect(erp, read_only=True) as con:
            rows = con.execute(f"SELECT * FROM {TABLE}").to_arrow_table()
        write_deltalake(f"{out}/{run}", rows, mode="overwrite")
        seconds.append(time.perf_counter() - began)
        landed_at = landed_at or time.time()
    return {"rows": rows.num_rows, "landed_at": landed_at, "first_seconds": seconds[0], "warm_seconds": seconds[1]}


def dlt_sql_table(sqlite: str, out: str) -> dict:
    import dlt
    from dlt.sources.sql_database import sql_table

    os.environ["DESTINATION__FILESYSTEM__BUCKET_URL"] = out
    pipeline = dlt.pipeline(
        pipeline_name="p1", destination="filesystem", dataset_name="bronze", pipelines_dir=f"{out}_pipelines"
    )
    source = sql_table(credentials=f"sqlite:///{sqlite}", table="SalesOrderDetail", backend="pyarrow")
    pipeline.run(source, table_format="delta", write_disposition="replace")
    return {"rows": pipeline.last_trace.last_normalize_info.row_counts["sales_order_detail"], "landed_at": time.time()}


CONTENDERS = {"project": project, "lower_bound": lower_bound, "dlt": dlt_sql_table}


# -- the harness ---------------------------------------------------------------------------------


def peers_python(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} with {', '.join(PEERS)} (first run only)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEERS], check=True)
    return python


def copy_to_sqlite(erp: Path, sqlite: Path) -> None:
    """The ERP's order lines in a SQLite table of the same name, columns and types (dlt's source)."""
    import sqlite3

    import duckdb

    with duckdb.connect(str(erp), read_only=True) as con:
        types = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE {TABLE}").fetchall()}
        rows = con.execute(f"SELECT * FROM {TABLE}").fetchall()
    declared = {name: _sqlite_type(kind) for name, kind in types.items()}
    with sqlite3.connect(sqlite) as target:
        target.execute(f"CREATE TABLE SalesOrderDetail ({', '.join(f'{c} {t}' for c, t in declared.items())})")
        marks = ", ".join("?" for _ in declared)
        convert = [_sqlite_value(t) for t in declared.values()]
        target.executemany(
            f"INSERT INTO SalesOrderDetail VALUES ({marks})",
            ([f(v) for f, v in zip(convert, row, strict=True)] for row in rows),
        )


def _sqlite_type(duckdb_type: str) -> str:
    kind = duckdb_type.upper()
    if kind.startswith(("DECIMAL", "NUMERIC")):
        return "NUMERIC"
    if kind in ("DOUBLE", "FLOAT", "REAL"):
        return "REAL"
    if kind.startswith(("TIMESTAMP", "DATE")):
        return "DATETIME"
    if kind in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "BOOLEAN"):
        return "INTEGER"
    return "TEXT"


def _sqlite_value(sqlite_type: str):
    if sqlite_type == "NUMERIC":
        return lambda v: None if v is None else float(v)
    if sqlite_type in ("DATETIME", "TEXT"):
        return lambda v: None if v is None else str(v)
    return lambda v: v


def run_fresh(python: Path, contender: str, *args: str) -> dict:
    """Run one contender in a new process: its figures, and ``fresh_seconds`` from the process's
    start to its first landing's end (the wall clock both sides read)."""
    started_at = time.time()
    done = subprocess.run(
        [str(python), __file__, "--contender", contender, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"{contender} failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, "fresh_seconds": figures["landed_at"] - started_at}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--peers-venv", type=Path, default=DEFAULT_PEERS_VENV)
    parser.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark setting for the project to try"
    )
    parser.add_argument("--results", type=Path, help="also append the P1 figures to this file (report.py)")
    parser.add_argument("--contender", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(CONTENDERS[args.contender](*args.args)))
        return

    from _common import Figure, write_figures

    from mssql_lakehouse_demo import erp_path, seed

    dlt_python = peers_python(args.peers_venv)
    with tempfile.TemporaryDirectory(prefix="bench_p1_") as tmp:
        demo = Path(tmp) / "demo"
        began = time.perf_counter()
        seed(demo, FIRST_DAY, args.days, args.scale, regions=["amer"])
        erp = erp_path(demo)
        sqlite = Path(tmp) / "erp.sqlite"
        copy_to_sqlite(erp, sqlite)
        print(
            f"seeded {args.days} days at scale {args.scale} and copied them to SQLite"
            f" in {time.perf_counter() - began:.0f} s"
        )

        first = FIRST_DAY.isoformat()
        spark_conf = json.dumps(dict(setting.split("=", 1) for setting in args.conf))
        results = {
            "project": run_fresh(
                Path(sys.executable), "project", str(erp), f"{tmp}/project", first, str(args.days), spark_conf
            ),
            "dlt": run_fresh(dlt_python, "dlt", str(sqlite), f"{tmp}/dlt"),
            "lower_bound": run_fresh(Path(sys.executable), "lower_bound", str(erp), f"{tmp}/lower_bound"),
        }
        shutil.rmtree(tmp, ignore_errors=True)

    rows = {name: r["rows"] for name, r in results.items()}
    if len(set(rows.values())) != 1:
        sys.exit(f"the contenders landed different row counts: {rows}")
    n = rows["project"]
    tuning = os.environ.get("LAKEHOUSE_SPARK_TUNING", "small_data")
    print(f"\nP1 extraction: {n:,} rows of Sales.SalesOrderDetail ({args.days} days at scale {args.scale})")
    print(f"project's local Spark tuning: {tuning}, settings tried: {args.conf or 'none'}")
    print(f"{'contender':34} {'seconds':>8} {'rows/s':>11}")
    fresh = {name: r["fresh_seconds"] for name, r in results.items()}
    for name, seconds in fresh.items():
        print(f"{name + ', fresh process':34} {seconds:8.2f} {n / seconds:11,.0f}")
    project_r, bound_r = results["project"], results["lower_bound"]
    print(f"{'project, of which JVM start':34} {project_r['jvm_seconds']:8.2f}")
    print(f"{'project, warm JVM':34} {project_r['warm_seconds']:8.2f} {n / project_r['warm_seconds']:11,.0f}")
    print(f"{'lower bound, warm process':34} {bound_r['warm_seconds']:8.2f} {n / bound_r['warm_seconds']:11,.0f}")
    print("(dlt read the same rows from a SQLite copy: its SQLAlchemy reflection fails on DuckDB 2.)")
    versus_dlt = fresh["dlt"] / fresh["project"]
    versus_bound = project_r["warm_seconds"] / bound_r["warm_seconds"]
    print(f"project rows/s / dlt rows/s, fresh processes: {versus_dlt:.2f}x (goal >= 2)")
    print(f"project warm / lower bound warm, seconds: {versus_bound:.2f}x (goal <= 3)")
    write_figures(
        args.results,
        [
            Figure(
                "P1",
                f"extract {n:,} order lines, fresh process (rows/s)",
                f"{n / fresh['project']:,.0f}",
                f"dlt {n / fresh['dlt']:,.0f}",
                f"{versus_dlt:.2f}x",
                ">= 2x",
                versus_dlt >= 2,
            ),
            Figure(
                "P1",
                "the same, warm JVM (s)",
                f"{project_r['warm_seconds']:.1f}",
                f"DuckDB->delta-rs {bound_r['warm_seconds']:.2f}",
                f"{versus_bound:.1f}x",
                "<= 3x",
                versus_bound <= 3,
            ),
        ],
    )


if __name__ == "__main__":
    main()
