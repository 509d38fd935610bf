"""A large write runs with compiled expressions when the session interprets them; what it writes does not change."""

import datetime as dt
from decimal import Decimal

import dagster as dg
from deltalake import DeltaTable as IndependentDeltaReader

from mssql_lakehouse.lib.io import compilation
from mssql_lakehouse.lib.io.compilation import COMPILE_ABOVE_ROWS, FACTORY_MODE, compiled_if_large, input_bytes
from mssql_lakehouse.lib.io.delta_tables import session_conf

DAILY = dg.DailyPartitionsDefinition(start_date="2026-11-01")


def priced_lines(table: str, claimed_rows: int, write: dict | None = None):
    """Order lines with the expressions a silver table computes (decimal products, casts, null
    handling, a derived date), returned with output metadata claiming ``claimed_rows`` rows."""

    @dg.asset(
        key=["silver", table],
        partitions_def=DAILY,
        metadata={"partition_expr": "order_date", **(write or {})},
        required_resource_keys={"spark"},
    )
    def lines(context: dg.AssetExecutionContext):
        spark = context.resources.spark.get_session()
        day = context.partition_time_window.start.date()
        rows = [
            (day, i, None if i % 7 == 0 else Decimal(f"{i}.25"), i % 5, dt.datetime(2026, 11, 1, i % 24, 30))
            for i in range(1, 300)
        ]
        df = spark.createDataFrame(rows, "order_date date, line int, price decimal(19,4), qty int, at timestamp")
        priced = df.selectExpr(
            "order_date",
            "line",
            "coalesce(price, 0) * qty AS net",
            "cast(line AS string) || '-' || cast(qty AS string) AS code",
            "to_date(at) AS at_day",
            "CASE WHEN qty = 0 THEN NULL ELSE price / qty END AS unit",
        )
        return dg.Output(priced, metadata={"output_rows": claimed_rows})

    return lines


def materialize(asset, resources, day: str = "2026-11-02") -> dict:
    result = dg.materialize([asset], resources=resources, partition_key=day)
    (materialization,) = result.asset_materializations_for_node(asset.op.name)
    return {k: v.value for k, v in materialization.metadata.items()}


def read_back(home, table: str) -> list[tuple]:
    rows = IndependentDeltaReader(str(home / "tables" / "silver" / table)).to_pyarrow_table().to_pylist()
    return sorted(tuple(sorted(row.items())) for row in rows)


def test_a_large_write_is_compiled_and_lands_what_an_interpreted_write_lands(spark, lakehouse_home, local_resources):
    assert spark.conf.get(FACTORY_MODE) == "NO_CODEGEN"  # the local default tuning, small_data

    large = materialize(priced_lines("compiled", COMPILE_ABOVE_ROWS + 1), local_resources)
    small = materialize(priced_lines("interpreted", 299), local_resources)

    assert large["spark_compiled_expressions"] is True
    assert small["spark_compiled_expressions"] is False
    assert read_back(lakehouse_home, "compiled") == read_back(lakehouse_home, "interpreted")
    assert len(read_back(lakehouse_home, "compiled")) == 299
    # The session is left as it was for the queries after the write.
    assert spark.conf.get(FACTORY_MODE) == "NO_CODEGEN"


def test_a_merge_across_a_large_table_is_compiled_whatever_its_input(
    spark, lakehouse_home, local_resources, monkeypatch
):
    merge = {"write_mode": "merge", "merge_keys": ["order_date", "line"], "merge_scope": "table"}
    first = materialize(priced_lines("merged", 299, merge), local_resources, "2026-11-02")
    assert first["spark_compiled_expressions"] is False  # a new table: the write reads its input only

    # The MERGE matches the day's rows against the whole table, which is large from here on.
    table = spark.read.format("delta").load(str(lakehouse_home / "tables" / "silver" / "merged"))
    monkeypatch.setattr(compilation, "COMPILE_ABOVE_BYTES", input_bytes(table) - 1)
    second = materialize(priced_lines("merged", 299, merge), local_resources, "2026-11-03")
    assert second["spark_compiled_expressions"] is True
    assert len(read_back(lakehouse_home, "merged")) == 2 * 299


def test_the_input_size_is_known_for_files_checkpoints_and_cached_frames_not_for_python_rows(spark, tmp_path):
    path = str(tmp_path / "t")
    rows = spark.range(20_000).selectExpr("id", "date_add(DATE'2026-11-01', CAST(id % 10 AS INT)) AS d")
    rows.write.format("delta").partitionBy("d").save(path)
    table = spark.read.format("delta").load(path)

    whole, one_day = input_bytes(table), input_bytes(table.where("d = DATE'2026-11-02'"))
    assert whole is not None and one_day is not None
    assert 0 < one_day < whole  # partition pruning counts
    assert input_bytes(table.join(table.select("id"), "id")) == 2 * whole

    # A checkpoint is sized by what it holds, not by the plan it came from (Spark's estimate of a
    # join is the product of its sides): the join's 20,000 rows take what the table's rows take.
    checkpointed = input_bytes(table.localCheckpoint())
    joined = input_bytes(table.join(table.select("id"), "id").localCheckpoint())
    assert checkpointed is not None and joined is not None
    assert 0.5 * checkpointed < joined < 2 * checkpointed
    assert 0 < input_bytes(table.where("d = DATE'2026-11-02'").localCheckpoint()) < checkpointed
    # A cached frame is sized by what its plan reads, before its first action too.
    cached_day = table.where("d = DATE'2026-11-02'").cache()
    cached_join = table.join(table.select("id"), "id").cache()
    try:
        assert input_bytes(cached_day) == one_day
        assert input_bytes(cached_join.groupBy("d").count()) == 2 * whole
        cached_join.count()
        assert input_bytes(cached_join.select("id")) == 2 * whole
    finally:
        cached_day.unpersist()
        cached_join.unpersist()
    assert input_bytes(spark.createDataFrame([(1, "a")], "a int, b string")) is None


def test_a_session_that_compiles_is_left_as_it_is_and_said_to_compile(spark):
    small = spark.range(10)
    with session_conf(spark, FACTORY_MODE, "FALLBACK"):  # Spark's default, and Databricks'
        with compiled_if_large(spark, small, rows=10) as compiled:
            assert compiled is True
            assert spark.conf.get("spark.sql.codegen.wholeStage") == "false"  # small_data's, untouched
        assert spark.conf.get(FACTORY_MODE) == "FALLBACK"
