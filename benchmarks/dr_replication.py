"""DR replication cost: a full pass, an incremental pass after a day's writes, and a pass in sync.

Builds a daily-partitioned Delta table of D days x R rows (one commit per day, as the nightly
runs write it), replicates it to an empty standby root, then appends one more day and
updates 1% of one day's rows (a MERGE) and replicates again, then once more with nothing new.
The incremental pass should cost what the new commits added, not the table's size.

    .venv/bin/python benchmarks/dr_replication.py                  # 60 days x 50,000 rows
    .venv/bin/python benchmarks/dr_replication.py --days 365 --rows 20000

Local Spark writes the table (not measured); replication itself is file copies, no Spark.
Figures are wall-clock seconds on this machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

FIRST_DAY = dt.date(2026, 1, 1)


def write_day(spark, path: str, day: dt.date, rows: int, mode: str = "append") -> None:
    from pyspark.sql import functions as F

    (
        spark.range(rows)
        .select(
            F.lit(day).alias("order_date"),
            F.col("id").alias("line_id"),
            (F.col("id") % 5000).alias("product_id"),
            (F.rand(seed=day.toordinal()) * 100).cast("decimal(19,4)").alias("amount"),
        )
        .write.format("delta")
        .mode(mode)
        .partitionBy("order_date")
        .save(path)
    )


def describe(label: str, result) -> str:
    return (
        f"{label:<12} {result.seconds:8.3f} s  versions {len(result.versions_copied):>4}  "
        f"data files {result.data_files_copied:>5} ({result.data_bytes_copied / 1e6:8.2f} MB)  "
        f"log files {result.log_files_copied:>4} ({result.log_bytes_copied / 1e6:6.2f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--rows", type=int, default=50_000, help="rows per day")
    args = parser.parse_args()

    from delta.tables import DeltaTable

    from mssql_lakehouse.lib.replication.local import replicate_table
    from mssql_lakehouse.lib.resources.spark import local_spark_session

    spark = local_spark_session(master="local[2]", driver_memory="3g", shuffle_partitions=2)
    with tempfile.TemporaryDirectory(prefix="dr_bench_") as tmp:
        primary, standby = Path(tmp) / "primary" / "silver" / "lines", Path(tmp) / "standby" / "silver" / "lines"
        for i in range(args.days):
            write_day(spark, str(primary), FIRST_DAY + dt.timedelta(days=i), args.rows)
        print(f"table: {args.days} days x {args.rows:,} rows, {args.days} commits")

        print(describe("full", replicate_table(primary, standby, name="silver/lines")))

        write_day(spark, str(primary), FIRST_DAY + dt.timedelta(days=args.days), args.rows)
        changed = spark.range(args.rows // 100).selectExpr(
            f"DATE'{FIRST_DAY}' AS order_date", "id * 100 AS line_id", "CAST(1 AS DECIMAL(19,4)) AS amount"
        )
        (
            DeltaTable.forPath(spark, str(primary))
            .alias("t")
            .merge(changed.alias("s"), "t.order_date = s.order_date AND t.line_id = s.line_id")
            .whenMatchedUpdate(set={"amount": "s.amount"})
            .execute()
        )
        print(describe("incremental", replicate_table(primary, standby, name="silver/lines")))
        print(describe("in sync", replicate_table(primary, standby, name="silver/lines")))
    spark.stop()


if __name__ == "__main__":
    main()
