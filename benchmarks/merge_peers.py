"""Benchmark P2: the silver MERGE of 1% updates and 0.1% inserts into --rows rows, this project against delta-rs.

The target is shaped as silver/sales_order_lines (the same merge settings: keys, newest
row_version wins, is_deleted flag, matched across the whole table) and spread over --days daily
partitions. It is loaded through the project's Delta IO manager in one run (untimed), then copied
for delta-rs. The change set (1% of the keys with a newer row_version and another quantity, spread
over every day, plus 0.1% new lines on the last day) is written to Parquet once; then, timed:

project   the asset's run for the last day: the step reads the change set and the IO manager
          merges it (source reduced to one row per key, only newer and different rows updated),
          with its bookkeeping (commit lookup, row count, the changed days from the change feed)
delta-rs  ``DeltaTable.merge`` of the same rows into the copy, with the same conditions

Both tables are then read with ``deltalake`` and must hold the same rows.

    .venv/bin/python benchmarks/merge_peers.py [--rows 5000000] [--days 100]
"""

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

FIRST_DAY = dt.date(2026, 1, 1)
KEYS = ("sales_order_id", "sales_order_detail_id")
LINES_PER_ORDER = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--results", type=Path, help="also append the P2 figure to this file (report.py)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_p2_"))
    os.environ.update(LAKEHOUSE_HOME=str(tmp / "home"), LAKEHOUSE_DEPLOYMENT="local")
    os.environ.pop("LAKEHOUSE_TABLES_ROOT", None)

    import dagster as dg
    import pyarrow.compute as pc
    from _common import Figure, run_partitions, step_seconds, write_figures
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    from mssql_lakehouse.defs.sales.silver import MERGE
    from mssql_lakehouse.lib.io.delta_io_manager import DeltaLakePySparkIOManager
    from mssql_lakehouse.lib.resources.spark import SparkResource
    from mssql_lakehouse.settings import LakehouseSettings

    settings = LakehouseSettings.from_env()
    spark_resource = SparkResource.from_settings(settings)
    spark = spark_resource.get_session()
    tables, batches = tmp / "tables", tmp / "batches"
    last_day = FIRST_DAY + dt.timedelta(days=args.days - 1)
    days = dg.DailyPartitionsDefinition(
        start_date=FIRST_DAY.isoformat(), end_date=(last_day + dt.timedelta(days=1)).isoformat()
    )

    class Batch(dg.Config):
        path: str

    @dg.asset(
        key=["silver", "bench_lines"],
        partitions_def=days,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"partition_expr": "order_date", "merge_keys": list(KEYS), **MERGE},
    )
    def bench_lines(config: Batch) -> DataFrame:
        return spark.read.parquet(config.path)

    defs = dg.Definitions(
        assets=[bench_lines],
        resources={"io_manager": DeltaLakePySparkIOManager(spark=spark_resource, tables_root=str(tables))},
    )
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()

    def run(batch: Path, first: str, last: str | None, label: str) -> float:
        config = {"ops": {"silver__bench_lines": {"config": {"path": str(batch)}}}}
        result, _ = run_partitions(job, instance, first, last, label, run_config=config)
        return step_seconds(instance, result.run_id)["silver__bench_lines"]

    # The target: --rows lines of orders spread evenly over the days.
    orders = args.rows // LINES_PER_ORDER
    lines = spark.range(args.rows).select(
        (F.col("id") / LINES_PER_ORDER).cast("int").alias("sales_order_id"),
        (F.col("id") % LINES_PER_ORDER + 1).cast("int").alias("sales_order_detail_id"),
        F.date_add(F.lit(FIRST_DAY), ((F.col("id") / LINES_PER_ORDER).cast("int") % args.days).cast("int")).alias(
            "order_date"
        ),
        (F.col("id") % 500 + 1).cast("int").alias("product_id"),
        (F.col("id") % 7 + 1).cast("int").alias("order_qty"),
        (F.col("id") % 1000 / 10 + 1).cast("decimal(19,4)").alias("unit_price"),
        F.lit(1).cast("bigint").alias("row_version"),
        F.lit(False).alias("is_deleted"),
    )
    lines.write.parquet(str(batches / "initial"))
    began = time.perf_counter()
    run(batches / "initial", FIRST_DAY.isoformat(), last_day.isoformat(), "initial load")
    print(f"loaded {args.rows:,} rows over {args.days} days in {time.perf_counter() - began:.0f} s (untimed)")

    # The change set: 1% updated (every 100th line, so every day has some), 0.1% new on the last day.
    updates = (
        spark.read.parquet(str(batches / "initial"))
        .where((F.col("sales_order_id") * LINES_PER_ORDER + F.col("sales_order_detail_id")) % 100 == 0)
        .withColumn("order_qty", F.col("order_qty") + 1)
        .withColumn("row_version", F.lit(2).cast("bigint"))
    )
    inserts = spark.range(args.rows // 1000).select(
        (F.lit(orders) + F.col("id") / LINES_PER_ORDER).cast("int").alias("sales_order_id"),
        (F.col("id") % LINES_PER_ORDER + 1).cast("int").alias("sales_order_detail_id"),
        F.lit(last_day).alias("order_date"),
        F.lit(1).alias("product_id"),
        F.lit(1).alias("order_qty"),
        F.lit(9.5).cast("decimal(19,4)").alias("unit_price"),
        F.lit(2).cast("bigint").alias("row_version"),
        F.lit(False).alias("is_deleted"),
    )
    updates.unionByName(inserts).coalesce(1).write.parquet(str(batches / "changes"))

    target = tables / "silver" / "bench_lines"
    peer = tmp / "delta_rs" / "bench_lines"
    shutil.copytree(target, peer)

    project_seconds = run(batches / "changes", last_day.isoformat(), None, "project merge")

    import pyarrow.parquet as pq

    changes = pq.read_table(str(batches / "changes")).drop_columns(["is_deleted"])
    began = time.perf_counter()
    on = " AND ".join(f"t.{k} = s.{k}" for k in KEYS)
    differs = " OR ".join(f"NOT (s.{c} <=> t.{c})" for c in ("order_date", "product_id", "order_qty", "unit_price"))
    (
        DeltaTable(str(peer))
        .merge(source=changes, predicate=on, source_alias="s", target_alias="t")
        .when_matched_update_all(predicate=f"s.row_version >= t.row_version AND ({differs})")
        .when_not_matched_insert_all()
        .execute()
    )
    peer_seconds = time.perf_counter() - began

    def contents(path: Path):
        table = DeltaTable(str(path)).to_pyarrow_table(columns=[*KEYS, "order_qty", "row_version"])
        return table.num_rows, pc.sum(table["order_qty"]).as_py(), pc.sum(table["row_version"]).as_py()

    ours, theirs = contents(target), contents(peer)
    if ours != theirs:
        sys.exit(f"the two merges disagree: project {ours}, delta-rs {theirs}")
    print(f"\nP2 merge: {changes.num_rows:,} changed rows into {args.rows:,} ({args.days} daily partitions)")
    print(f"{'contender':34} {'seconds':>8}")
    print(f"{'project (the asset step)':34} {project_seconds:8.2f}")
    print(f"{'delta-rs merge':34} {peer_seconds:8.2f}")
    ratio = project_seconds / peer_seconds
    print(f"project / delta-rs: {ratio:.2f}x (goal <= 1.0)")
    write_figures(
        args.results,
        [
            Figure(
                "P2",
                f"merge {changes.num_rows:,} changes into {args.rows:,} rows (s)",
                f"{project_seconds:.1f}",
                f"delta-rs {peer_seconds:.2f}",
                f"{ratio:.1f}x",
                "<= 1x",
                ratio <= 1,
            )
        ],
    )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
