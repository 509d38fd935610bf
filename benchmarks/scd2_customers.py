"""SCD2 apply cost: one day of changes of 1% of the customers, at two table sizes.

Builds bronze/customer_changes with an initial load of N customers (day 1) and a day of
changes to C customers (day 2: updates, deletes, and deletes followed by a re-insert),
materializes silver/customers_history + silver/customers for day 1 (the initial load, not
measured), then measures the day-2 run of the silver step, the way Dagster runs it (IO
manager merges and the checks included). The SCD2 cost should follow C, not N.

    .venv/bin/python benchmarks/scd2_customers.py                       # N=1,000,000 and 100,000, C=10,000
    .venv/bin/python benchmarks/scd2_customers.py --customers 200000 --changed 2000
    .venv/bin/python benchmarks/scd2_customers.py --deletion-vectors    # silver tables with deletion vectors

Local Spark on this machine's cores; figures are wall-clock seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

from mssql_lakehouse.settings import LakehouseSettings

CHANGE_DAY = "2026-01-02"
LOAD_DAY = "2026-01-01"


def build_bronze(spark, path: str, customers: int, changed: int, seed: int = 7) -> int:
    """Day 1: one insert per customer. Day 2: ``changed`` distinct customers changed once or twice."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    day1 = dt.date.fromisoformat(LOAD_DAY)
    day_ordinal = (day1 - dt.date(1900, 1, 1)).days

    def lsn(day, txn, slot):
        return F.format_string("%08X%08X%04X", F.lit(day), txn.cast("int"), F.lit(slot))

    def rows(df, day_offset: int, op, serial, txn, minute_scale: int):
        commit_lsn = lsn(day_ordinal + day_offset, txn, 3)
        change_lsn = lsn(day_ordinal + day_offset, txn, 2)
        start = dt.datetime.combine(day1 + dt.timedelta(days=day_offset), dt.time())
        commit_time = F.timestamp_add(
            "MICROSECOND",
            txn.cast("bigint") * F.lit(minute_scale).cast("bigint"),
            F.lit(start.isoformat(sep=" ")).cast("timestamp_ntz"),
        )
        rank = F.when(op == "d", "0").when(op == "c", "1").otherwise("2")
        key = F.col("key")
        return df.select(
            commit_lsn.alias("commit_lsn"),
            change_lsn.alias("change_lsn"),
            serial.cast("bigint").alias("event_serial_no"),
            op.alias("operation"),
            F.concat_ws(".", commit_lsn, change_lsn, F.lpad(serial.cast("string"), 10, "0"), rank).alias(
                "change_position"
            ),
            commit_time.alias("commit_time"),
            F.lit(None).cast("string").alias("before_image"),
            F.lit(None).cast("string").alias("update_mask"),
            F.lit(None).cast("int").alias("command_id"),
            F.lit("sqlserver").alias("_feed"),
            F.lit("benchmark").alias("_source"),
            F.current_timestamp().alias("_ingested_at"),
            key.cast("int").alias("CustomerID"),
            F.concat(F.lit("First"), (key % 997).cast("string")).alias("FirstName"),
            F.concat(F.lit("Last"), (key % 991).cast("string")).alias("LastName"),
            F.concat(
                F.lit("c"), key.cast("string"), F.lit("."), F.col("version").cast("string"), F.lit("@example.com")
            ).alias("Email"),
            F.element_at(
                F.array(*[F.lit(c) for c in ("Paris", "Austin", "Tokyo", "Lima")]), (key % 4 + 1).cast("int")
            ).alias("City"),
            F.element_at(F.array(*[F.lit(c) for c in ("FR", "US", "JP", "PE")]), (key % 4 + 1).cast("int")).alias(
                "CountryRegion"
            ),
            ((key % 1000) * F.lit(50) + F.col("version")).cast("decimal(19,4)").alias("CreditLimit"),
            commit_time.alias("ModifiedDate"),
        )

    initial = spark.range(1, customers + 1).select(F.col("id").alias("key"), F.lit(0).alias("version"))
    load = rows(initial, 0, F.lit("c"), F.lit(1), F.col("key"), max(1, 86_000_000_000 // customers))

    # The changed customers: spread over the whole key space, so every data file holds some.
    picked = (
        spark.range(changed * 2)
        .select((F.pmod(F.xxhash64(F.col("id"), F.lit(seed)), F.lit(customers)) + 1).alias("key"))
        .distinct()
        .limit(changed)
        .withColumn("n", F.row_number().over(Window.orderBy("key")))
    )
    kind = F.col("n") % 10
    updates = picked.where(kind < 8).select("key", F.lit(1).alias("version"), (F.col("n") * 3).alias("txn"))
    deletes = picked.where(kind >= 8).select("key", F.lit(1).alias("version"), (F.col("n") * 3).alias("txn"))
    reinserts = picked.where(kind == 9).select("key", F.lit(2).alias("version"), (F.col("n") * 3 + 1).alias("txn"))
    scale = 80_000_000_000 // (changed * 3 + 2)
    day2 = (
        rows(updates, 1, F.lit("u"), F.lit(2), F.col("txn"), scale)
        .unionByName(rows(deletes, 1, F.lit("d"), F.lit(1), F.col("txn"), scale))
        .unionByName(rows(reinserts, 1, F.lit("c"), F.lit(1), F.col("txn"), scale))
    )
    load.unionByName(day2).repartition(4).write.format("delta").mode("overwrite").save(path)
    return day2.count()


def run(customers: int, changed: int, deletion_vectors: bool, workdir: Path) -> dict:
    import dagster as dg

    home = workdir / f"n{customers}"
    os.environ["LAKEHOUSE_HOME"] = str(home)
    from mssql_lakehouse.defs.customer_360.bronze import customer_changes
    from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
    from mssql_lakehouse.defs.customer_360.silver import customers_history_and_customers
    from mssql_lakehouse.lib.resources.deployment import resources_for
    from mssql_lakehouse.lib.resources.spark import local_spark_session

    spark = local_spark_session(driver_memory="8g", shuffle_partitions=8)
    spark.conf.set("spark.databricks.delta.properties.defaults.enableDeletionVectors", str(deletion_vectors).lower())
    bronze = home / "tables" / "bronze" / "customer_changes"
    events = build_bronze(spark, str(bronze), customers, changed)
    resources = {
        **resources_for(LakehouseSettings.from_env()),
        "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env()),
    }
    instance = dg.DagsterInstance.ephemeral()

    def silver(day: str) -> tuple[float, dg.ExecuteInProcessResult]:
        started = time.perf_counter()
        result = dg.materialize(
            [customer_changes, customers_history_and_customers],
            selection=[customers_history_and_customers],
            resources=resources,
            partition_key=day,
            instance=instance,
        )
        assert result.success
        return time.perf_counter() - started, result

    load_seconds, _ = silver(LOAD_DAY)
    change_seconds, result = silver(CHANGE_DAY)
    phases = _phases(instance.all_logs(result.run_id))
    history = spark.read.format("delta").load(str(home / "tables" / "silver" / "customers_history"))
    return {
        "customers": customers,
        "changed_customers": changed,
        "change_events": events,
        "deletion_vectors": deletion_vectors,
        "initial_load_seconds": round(load_seconds, 1),
        "change_day_seconds": round(change_seconds, 1),
        **{f"phase_{k}_seconds": v for k, v in phases.items()},
        "history_rows": history.count(),
        "keys_rewritten": result.asset_materializations_for_node("customers_history_and_customers")[0]
        .metadata["keys_rewritten"]
        .value,
    }


def _phases(entries) -> dict[str, float]:
    """Seconds between the step's events: recompute, history merge, customers merge, checks."""
    marks = {}
    for entry in entries:
        event = entry.dagster_event
        if event is None or event.step_key != "customers_history_and_customers":
            continue
        name = event.event_type_value
        label = None
        if name == "STEP_START":
            label = "start"
        elif name == "STEP_OUTPUT" and event.event_specific_data.step_output_handle.output_name == "customers_history":
            label = "history_computed"
        elif name == "HANDLED_OUTPUT" and event.event_specific_data.output_name == "customers_history":
            label = "history_merged"
        elif name == "HANDLED_OUTPUT" and event.event_specific_data.output_name == "customers":
            label = "customers_merged"
        elif name == "STEP_SUCCESS":
            label = "end"
        if label and label not in marks:
            marks[label] = entry.timestamp
    order = ["start", "history_computed", "history_merged", "customers_merged", "end"]
    names = ["recompute", "history_merge", "customers_merge", "checks"]
    return {
        n: round(marks[b] - marks[a], 1)
        for n, a, b in zip(names, order, order[1:], strict=False)
        if a in marks and b in marks
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, nargs="*", default=[1_000_000, 100_000])
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--deletion-vectors", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the small unreported first run that warms up the JVM and Python imports",
    )
    args = parser.parse_args()
    os.environ.setdefault("LAKEHOUSE_PARTITIONS_START", LOAD_DAY)
    os.environ.setdefault("DAGSTER_HOME", tempfile.mkdtemp(prefix="dagster_home_"))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scd2_bench_"))
    if not args.no_warmup:
        run(20_000, 500, args.deletion_vectors, workdir / "warmup")
    results = [run(n, args.changed, args.deletion_vectors, workdir) for n in args.customers]
    for r in results:
        print(json.dumps(r))
    print()
    print(
        f"{'customers':>10} {'changed':>8} {'DV':>3} {'change day s':>13} {'recompute':>9} {'hist merge':>10} "
        f"{'cust merge':>10} {'checks':>6} {'initial load s':>14}"
    )
    for r in results:
        print(
            f"{r['customers']:>10,} {r['changed_customers']:>8,} {'on' if r['deletion_vectors'] else 'off':>3} "
            f"{r['change_day_seconds']:>13} {r.get('phase_recompute_seconds', '-'):>9} "
            f"{r.get('phase_history_merge_seconds', '-'):>10} {r.get('phase_customers_merge_seconds', '-'):>10} "
            f"{r.get('phase_checks_seconds', '-'):>6} {r['initial_load_seconds']:>14}"
        )


if __name__ == "__main__":
    main()
