"""The Delta IO manager against real local Spark and real Delta tables."""

import datetime as dt
import json
from decimal import Decimal

import dagster as dg
import pytest
from deltalake import DeltaTable as IndependentDeltaReader
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.lib.io.schema_policy import IncompatibleSchemaError

DAILY = dg.DailyPartitionsDefinition(start_date="2026-11-01")
REGIONS = dg.StaticPartitionsDefinition(["amer", "emea"])
DAY_BY_REGION = dg.MultiPartitionsDefinition({"date": DAILY, "region": REGIONS})


def table_path(home, layer: str, table: str) -> str:
    return str(home / "tables" / layer / table)


def read(spark, home, layer, table) -> DataFrame:
    return spark.read.format("delta").load(table_path(home, layer, table))


def history(spark, home, layer, table) -> list[dict]:
    """The table's write commits, oldest first (its creation, empty with its layout, is a commit of its own)."""
    rows = spark.sql(f"DESCRIBE HISTORY delta.`{table_path(home, layer, table)}`").collect()
    writes = (r.asDict() for r in rows if r["operation"] != "CREATE TABLE")
    return sorted(writes, key=lambda r: r["version"])


def rows_of(df: DataFrame) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())


def daily_asset(rows_per_day: int, label: str):
    """A daily asset writing ``rows_per_day`` rows tagged ``label`` for each day of its window."""

    @dg.asset(
        key=["bronze", "events"],
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"partition_expr": "event_date"},
        required_resource_keys={"spark"},
    )
    def events(context: dg.AssetExecutionContext) -> DataFrame:
        spark = context.resources.spark.get_session()
        window = context.partition_time_window
        days = [window.start.date() + dt.timedelta(days=i) for i in range((window.end - window.start).days)]
        return spark.createDataFrame(
            [(d, i, label) for d in days for i in range(rows_per_day)], "event_date date, seq int, label string"
        )

    return events


def run_range(assets, resources, start: str, end: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        resources=resources,
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
    )


def test_rematerializing_a_day_replaces_only_that_day(spark, lakehouse_home, local_resources):
    dg.materialize([daily_asset(3, "first")], resources=local_resources, partition_key="2026-11-01")
    dg.materialize([daily_asset(3, "first")], resources=local_resources, partition_key="2026-11-02")
    dg.materialize([daily_asset(2, "second")], resources=local_resources, partition_key="2026-11-02")

    table = read(spark, lakehouse_home, "bronze", "events")
    day1 = rows_of(table.where("event_date = DATE'2026-11-01'").select("seq", "label"))
    day2 = rows_of(table.where("event_date = DATE'2026-11-02'").select("seq", "label"))
    assert day1 == [(0, "first"), (1, "first"), (2, "first")]
    assert day2 == [(0, "second"), (1, "second")]
    assert len(history(spark, lakehouse_home, "bronze", "events")) == 3  # one commit per write


def test_single_run_backfill_writes_the_whole_window_in_one_commit(spark, lakehouse_home, local_resources):
    dg.materialize([daily_asset(1, "old")], resources=local_resources, partition_key="2026-11-07")
    result = run_range([daily_asset(2, "backfill")], local_resources, "2026-11-01", "2026-11-05")
    assert result.success

    table = read(spark, lakehouse_home, "bronze", "events")
    per_day = {r["event_date"]: r["n"] for r in table.groupBy("event_date").agg(F.count("*").alias("n")).collect()}
    assert per_day == {
        **{dt.date(2026, 11, d): 2 for d in range(1, 6)},
        dt.date(2026, 11, 7): 1,  # outside the backfill window: untouched
    }
    commits = history(spark, lakehouse_home, "bronze", "events")
    assert len(commits) == 2
    materialization = result.asset_materializations_for_node("bronze__events")[0]
    assert materialization.metadata["dagster/row_count"].value == 10
    assert materialization.metadata["delta_version"].value == commits[-1]["version"]


def merge_asset(rows: list[tuple]):
    @dg.asset(
        key=["silver", "customers"],
        metadata={"write_mode": "merge", "merge_keys": ["id"], "merge_order_by": ["modified"]},
        required_resource_keys={"spark"},
    )
    def customers(context: dg.AssetExecutionContext) -> DataFrame:
        return context.resources.spark.get_session().createDataFrame(rows, "id int, name string, modified int")

    return customers


def test_merge_upserts_and_a_replay_changes_nothing(spark, lakehouse_home, local_resources):
    dg.materialize([merge_asset([(1, "ann", 1), (2, "bob", 1)])], resources=local_resources)
    # An update of 2 (two versions in one batch: the later wins), an insert of 3.
    batch = [(2, "bobby", 2), (2, "robert", 3), (3, "cy", 1)]
    dg.materialize([merge_asset(batch)], resources=local_resources)
    expected = [(1, "ann", 1), (2, "robert", 3), (3, "cy", 1)]
    assert rows_of(read(spark, lakehouse_home, "silver", "customers")) == expected

    dg.materialize([merge_asset(batch)], resources=local_resources)
    # Replaying an older version never regresses a newer one.
    dg.materialize([merge_asset([(2, "bob", 1)])], resources=local_resources)
    assert rows_of(read(spark, lakehouse_home, "silver", "customers")) == expected


def test_merge_delete_flag_removes_keys_within_the_partition_only(spark, lakehouse_home, local_resources):
    @dg.asset(
        key=["silver", "lines"],
        partitions_def=REGIONS,
        metadata={
            "partition_expr": "region",
            "write_mode": "merge",
            "merge_keys": ["region", "id"],
            "merge_delete_flag": "is_deleted",
        },
        required_resource_keys={"spark"},
    )
    def lines(context: dg.AssetExecutionContext) -> DataFrame:
        region = context.partition_key
        deleted = context.run.tags.get("delete") == "yes"
        return context.resources.spark.get_session().createDataFrame(
            [(region, 1, "a", False), (region, 2, "b", deleted)], "region string, id int, v string, is_deleted boolean"
        )

    for region in ("amer", "emea"):
        dg.materialize([lines], resources=local_resources, partition_key=region)
    dg.materialize([lines], resources=local_resources, partition_key="amer", tags={"delete": "yes"})

    table = read(spark, lakehouse_home, "silver", "lines")
    assert "is_deleted" not in table.columns
    assert rows_of(table) == [("amer", 1, "a"), ("emea", 1, "a"), ("emea", 2, "b")]


def evolving_asset(columns: str, row: tuple):
    @dg.asset(
        key=["bronze", "orders"],
        partitions_def=DAILY,
        metadata={"partition_expr": "order_date"},
        required_resource_keys={"spark"},
    )
    def orders(context: dg.AssetExecutionContext) -> DataFrame:
        return context.resources.spark.get_session().createDataFrame([row], columns)

    return orders


def test_additive_column_is_accepted(spark, lakehouse_home, local_resources):
    dg.materialize(
        [evolving_asset("order_date date, qty int", (dt.date(2026, 11, 1), 5))],
        resources=local_resources,
        partition_key="2026-11-01",
    )
    result = dg.materialize(
        [evolving_asset("order_date date, qty int, channel string", (dt.date(2026, 11, 2), 7, "web"))],
        resources=local_resources,
        partition_key="2026-11-02",
    )
    assert result.asset_materializations_for_node("bronze__orders")[0].metadata["columns_added"].value == "channel"
    assert rows_of(read(spark, lakehouse_home, "bronze", "orders")) == [
        (dt.date(2026, 11, 1), 5, None),
        (dt.date(2026, 11, 2), 7, "web"),
    ]


def test_incompatible_type_change_fails_naming_the_column_and_writes_nothing(spark, lakehouse_home, local_resources):
    dg.materialize(
        [evolving_asset("order_date date, qty int", (dt.date(2026, 11, 1), 5))],
        resources=local_resources,
        partition_key="2026-11-01",
    )
    with pytest.raises(IncompatibleSchemaError, match=r"qty: int -> string"):
        dg.materialize(
            [evolving_asset("order_date date, qty string", (dt.date(2026, 11, 1), "five"))],
            resources=local_resources,
            partition_key="2026-11-01",
        )
    assert len(history(spark, lakehouse_home, "bronze", "orders")) == 1
    assert rows_of(read(spark, lakehouse_home, "bronze", "orders")) == [(dt.date(2026, 11, 1), 5)]


def test_loading_a_partitioned_input_returns_exactly_its_window(spark, lakehouse_home, local_resources):
    run_range([daily_asset(2, "x")], local_resources, "2026-11-01", "2026-11-06")
    seen: dict[str, list] = {}

    @dg.asset(
        key=["silver", "event_days"],
        partitions_def=DAILY,
        ins={"events": dg.AssetIn(key=["bronze", "events"], metadata={"columns": ["event_date"]})},
        metadata={"partition_expr": "event_date"},
    )
    def event_days(events: DataFrame) -> DataFrame:
        seen["columns"] = events.columns
        seen["dates"] = sorted({r.event_date for r in events.collect()})
        return events.distinct()

    dg.materialize(
        [daily_asset(2, "x"), event_days],
        resources=local_resources,
        selection=[event_days],
        tags={"dagster/asset_partition_range_start": "2026-11-02", "dagster/asset_partition_range_end": "2026-11-03"},
    )
    assert seen == {"columns": ["event_date"], "dates": [dt.date(2026, 11, 2), dt.date(2026, 11, 3)]}


def test_multi_partition_write_replaces_one_cell(spark, lakehouse_home, local_resources):
    @dg.asset(
        key=["bronze", "stock"],
        partitions_def=DAY_BY_REGION,
        metadata={"partition_expr": {"date": "snapshot_date", "region": "region"}},
        required_resource_keys={"spark"},
    )
    def stock(context: dg.AssetExecutionContext) -> DataFrame:
        key = context.partition_key.keys_by_dimension
        qty = int(context.run.tags.get("qty", "1"))
        return context.resources.spark.get_session().createDataFrame(
            [(dt.date.fromisoformat(key["date"]), key["region"], qty)], "snapshot_date date, region string, qty int"
        )

    for key in ("2026-11-01|amer", "2026-11-01|emea", "2026-11-02|amer"):
        dg.materialize([stock], resources=local_resources, partition_key=key)
    dg.materialize([stock], resources=local_resources, partition_key="2026-11-01|emea", tags={"qty": "9"})

    assert rows_of(read(spark, lakehouse_home, "bronze", "stock")) == [
        (dt.date(2026, 11, 1), "amer", 1),
        (dt.date(2026, 11, 1), "emea", 9),
        (dt.date(2026, 11, 2), "amer", 1),
    ]


def test_tables_are_readable_by_an_independent_delta_reader(spark, lakehouse_home, local_resources):
    @dg.asset(key=["gold", "amounts"], required_resource_keys={"spark"})
    def amounts(context: dg.AssetExecutionContext) -> DataFrame:
        return context.resources.spark.get_session().createDataFrame(
            [(1, Decimal("10.0100")), (2, Decimal("0.0001"))], "id int, amount decimal(19,4)"
        )

    result = dg.materialize([amounts], resources=local_resources)
    metadata = result.asset_materializations_for_node("gold__amounts")[0].metadata
    assert metadata["dagster/uri"].value == table_path(lakehouse_home, "gold", "amounts")
    assert [c.name for c in metadata["dagster/column_schema"].schema.columns] == ["id", "amount"]

    independent = IndependentDeltaReader(table_path(lakehouse_home, "gold", "amounts")).to_pyarrow_table()
    assert sorted(
        zip(independent.column("id").to_pylist(), independent.column("amount").to_pylist(), strict=False)
    ) == [
        (1, Decimal("10.0100")),
        (2, Decimal("0.0001")),
    ]


def test_every_commit_is_tagged_with_run_and_partition(spark, lakehouse_home, local_resources):
    result = dg.materialize([daily_asset(1, "x")], resources=local_resources, partition_key="2026-11-03")

    commit = history(spark, lakehouse_home, "bronze", "events")[-1]
    tags = json.loads(commit["userMetadata"])
    # write_id tells this write's commit from others' when several runs commit to the table.
    assert tags.pop("write_id")
    assert tags == {"asset": "bronze/events", "dagster_run_id": result.run_id, "partitions": "2026-11-03"}
