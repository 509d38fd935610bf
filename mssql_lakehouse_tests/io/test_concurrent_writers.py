"""The Delta IO manager when another writer commits to the table while a write is running.

The other writer is real and independent: the ``deltalake`` package, called from inside the write's
own Spark job (a UDF), so its commit lands after the write read the table and before it commits,
every time, without timing guesses. A table another run is still creating is committed by the test
once the write has logged that it waits for it, for the same reason.
"""

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable as IndependentDeltaReader
from deltalake import write_deltalake
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.lib.io.delta_io_manager import DeltaLakePySparkIOManager
from mssql_lakehouse_tests.io.test_delta_io_manager import DAILY, daily_asset, table_path

SCHEMA = "event_date date, seq int, label string"
# The daily table bronze/events, whatever each test's asset does before writing it.
events_asset = dg.asset(
    key=["bronze", "events"],
    partitions_def=DAILY,
    metadata={"partition_expr": "event_date"},
    required_resource_keys={"spark"},
)


def competed_asset(table: str, competitor_day: dt.date, commits: int, counter: Path):
    """A daily asset whose write meets ``commits`` concurrent appends (of ``competitor_day``), one per attempt."""

    @events_asset
    def events(context: dg.AssetExecutionContext) -> DataFrame:
        spark = context.resources.spark.get_session()
        day = context.partition_time_window.start.date()

        def compete(seq: int) -> int:
            done = int(counter.read_text()) if counter.exists() else 0
            if done < commits:
                counter.write_text(str(done + 1))
                row = pa.table({"event_date": [competitor_day], "seq": pa.array([99], pa.int32()), "label": ["other"]})
                write_deltalake(table, row, mode="append")
            return seq

        rows = spark.createDataFrame([(day, 0, "ours")], SCHEMA).coalesce(1)
        return rows.withColumn("seq", F.udf(compete, "int")("seq"))

    return events


def io_manager(resources, home, **config) -> dict:
    return {
        **resources,
        "io_manager": DeltaLakePySparkIOManager(
            spark=resources["spark"], tables_root=str(home / "tables"), **{"conflict_backoff_seconds": 0.0, **config}
        ),
    }


def materialization(result: dg.ExecuteInProcessResult, node: str = "bronze__events") -> dict:
    return result.asset_materializations_for_node(node)[0].metadata


@pytest.mark.parametrize("layout", ["by_partition", "unpartitioned"])
def test_a_write_of_one_day_and_a_commit_of_another_day(spark, lakehouse_home, local_resources, tmp_path, layout):
    """Partitioned by day, the two do not conflict; unpartitioned, the write loses once and is retried."""
    resources = io_manager(local_resources, lakehouse_home, table_layout=layout)
    table = table_path(lakehouse_home, "bronze", "events")
    dg.materialize([daily_asset(1, "first")], resources=resources, partition_key="2026-11-01")

    result = dg.materialize(
        [competed_asset(table, dt.date(2026, 11, 1), 1, tmp_path / "n")],
        resources=resources,
        partition_key="2026-11-02",
    )

    assert result.success
    assert materialization(result)["delta_conflict_retries"].value == (0 if layout == "by_partition" else 1)
    rows = sorted((r["event_date"], r["label"]) for r in IndependentDeltaReader(table).to_pyarrow_table().to_pylist())
    assert rows == [(dt.date(2026, 11, 1), "first"), (dt.date(2026, 11, 1), "other"), (dt.date(2026, 11, 2), "ours")]


def test_a_write_that_loses_a_conflict_is_retried_from_the_new_snapshot(
    spark, lakehouse_home, local_resources, tmp_path
):
    resources = io_manager(local_resources, lakehouse_home)
    table = table_path(lakehouse_home, "bronze", "events")
    dg.materialize([daily_asset(1, "first")], resources=resources, partition_key="2026-11-02")

    # The competitor appends to the day being replaced: a real conflict for any layout.
    result = dg.materialize(
        [competed_asset(table, dt.date(2026, 11, 2), 1, tmp_path / "n")],
        resources=resources,
        partition_key="2026-11-02",
    )

    assert result.success
    metadata = materialization(result)
    assert metadata["delta_conflict_retries"].value == 1
    assert "version 2 (WRITE" in metadata["delta_conflicts_lost_to"].value[0]
    # Retried from the snapshot with the competitor's row, the day is replaced whole: ours only.
    rows = [(r["event_date"], r["label"]) for r in IndependentDeltaReader(table).to_pyarrow_table().to_pylist()]
    assert rows == [(dt.date(2026, 11, 2), "ours")]
    assert metadata["delta_version"].value == IndependentDeltaReader(table).version()


def test_a_conflict_that_persists_fails_naming_the_table_and_the_competing_commit(
    spark, lakehouse_home, local_resources, tmp_path
):
    resources = io_manager(local_resources, lakehouse_home, conflict_retries=2)
    table = table_path(lakehouse_home, "bronze", "events")
    dg.materialize([daily_asset(1, "first")], resources=resources, partition_key="2026-11-02")
    before = IndependentDeltaReader(table).to_pyarrow_table().to_pylist()

    result = dg.materialize(
        [competed_asset(table, dt.date(2026, 11, 2), 10, tmp_path / "n")],
        resources=resources,
        partition_key="2026-11-02",
        raise_on_error=False,
    )

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.step_failure_data.error
    message = error.cause.message if error.cause else error.message
    assert "bronze.events" in message and "3 times in a row" in message and "version 4 (WRITE" in message
    # Nothing of ours was committed: the table holds what was there plus the competitor's three rows.
    after = IndependentDeltaReader(table).to_pyarrow_table().to_pylist()
    assert sorted(r["label"] for r in after) == sorted([r["label"] for r in before] + ["other"] * 3)


NTZ_DAILY = dg.DailyPartitionsDefinition(start_date="2026-11-01", timezone="America/New_York")


@dg.asset(
    key=["bronze", "changes"],
    partitions_def=NTZ_DAILY,
    metadata={"partition_expr": "modified"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    required_resource_keys={"spark"},
)
def changes(context: dg.AssetExecutionContext) -> DataFrame:
    """Wall-clock rows at each day's first and last minute, as SQL Server datetime2 lands."""
    spark = context.resources.spark.get_session()
    start, end = context.partition_time_window
    days = [start.date() + dt.timedelta(days=i) for i in range((end.date() - start.date()).days)]
    rows = [(dt.datetime.combine(d, t), d.day) for d in days for t in (dt.time(0, 0), dt.time(23, 59))]
    return spark.createDataFrame(rows, "modified timestamp_ntz, n int")


@dg.asset(
    key=["silver", "change_counts"],
    partitions_def=NTZ_DAILY,
    metadata={"partition_expr": "day"},
    required_resource_keys={"spark"},
)
def change_counts(changes: DataFrame) -> DataFrame:
    assert changes.columns == ["modified", "n"], changes.columns
    return changes.groupBy(F.to_date("modified").alias("day")).count()


def test_a_wall_clock_timestamp_partitions_its_table_by_a_generated_day(spark, lakehouse_home, local_resources):
    table = table_path(lakehouse_home, "bronze", "changes")
    result = dg.materialize(
        [changes],
        resources=local_resources,
        tags={"dagster/asset_partition_range_start": "2026-11-01", "dagster/asset_partition_range_end": "2026-11-03"},
    )
    assert result.success
    layout = materialization(result, "bronze__changes")["delta_layout"].value
    assert layout == "partitioned by _partition_date (generated: CAST(`modified` AS DATE))"
    assert IndependentDeltaReader(table).metadata().partition_columns == ["_partition_date"]

    # A day's replay replaces that day only (Delta's own replaceWhere check passes with the day's column);
    # the asset downstream reads the asset's columns, not the layout's.
    assert dg.materialize([changes, change_counts], resources=local_resources, partition_key="2026-11-02").success
    rows = IndependentDeltaReader(table).to_pyarrow_table().to_pylist()
    assert sorted((r["_partition_date"], r["modified"].date()) for r in rows) == [
        (dt.date(2026, 11, d), dt.date(2026, 11, d)) for d in (1, 1, 2, 2, 3, 3)
    ]


def test_a_table_created_before_the_layout_keeps_its_layout(spark, lakehouse_home, local_resources):
    table = table_path(lakehouse_home, "bronze", "events")
    spark.createDataFrame([(dt.date(2026, 11, 1), 0, "old")], SCHEMA).write.format("delta").save(table)

    result = dg.materialize([daily_asset(1, "new")], resources=local_resources, partition_key="2026-11-02")

    assert materialization(result)["delta_layout"].value == "unpartitioned"
    rows = sorted((r["event_date"], r["label"]) for r in IndependentDeltaReader(table).to_pyarrow_table().to_pylist())
    assert rows == [(dt.date(2026, 11, 1), "old"), (dt.date(2026, 11, 2), "new")]


def being_created_asset(table: str):
    """A daily asset whose table another run has begun to create when the write starts: its folder has
    a ``_delta_log`` and no commit yet."""

    @events_asset
    def events(context: dg.AssetExecutionContext) -> DataFrame:
        (Path(table) / "_delta_log").mkdir(parents=True)
        day = context.partition_time_window.start.date()
        return context.resources.spark.get_session().createDataFrame([(day, 0, "ours")], SCHEMA)

    return events


def test_a_write_that_finds_its_table_being_created_waits_for_the_creating_run(spark, lakehouse_home, local_resources):
    resources = io_manager(local_resources, lakehouse_home, conflict_backoff_seconds=0.5)
    table = table_path(lakehouse_home, "bronze", "events")
    instance = dg.DagsterInstance.ephemeral()

    with ThreadPoolExecutor(1) as pool:
        run = pool.submit(
            dg.materialize,
            [being_created_asset(table)],
            resources=resources,
            partition_key="2026-11-02",
            instance=instance,
        )
        # The creating run commits once the write has found the table half-created and waits.
        while not any("conflicts with this write" in message for message in _messages(instance)):
            assert not run.done(), "the write ended without waiting for the creating run"
            time.sleep(0.05)
        other = pa.table({"event_date": [dt.date(2026, 11, 1)], "seq": pa.array([99], pa.int32()), "label": ["other"]})
        write_deltalake(table, other)
        result = run.result()

    assert result.success
    rows = sorted((r["event_date"], r["label"]) for r in IndependentDeltaReader(table).to_pyarrow_table().to_pylist())
    assert rows == [(dt.date(2026, 11, 1), "other"), (dt.date(2026, 11, 2), "ours")]


def _messages(instance: dg.DagsterInstance) -> list[str]:
    return [record.user_message for run in instance.get_runs() for record in instance.all_logs(run.run_id)]


def test_a_table_left_half_created_fails_the_write_saying_so(spark, lakehouse_home, local_resources):
    resources = io_manager(local_resources, lakehouse_home, conflict_retries=1)
    table = table_path(lakehouse_home, "bronze", "events")

    result = dg.materialize(
        [being_created_asset(table)], resources=resources, partition_key="2026-11-02", raise_on_error=False
    )

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.step_failure_data.error
    message = error.cause.message if error.cause else error.message
    assert "bronze.events" in message and "another run is creating the table" in message
    assert "remove the folder" in message
