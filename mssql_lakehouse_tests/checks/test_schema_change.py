"""column_schema_change on a real Delta table written by the lakehouse's IO manager.

The IO manager reports the table's schema after each write (``dagster/column_schema``); the check
compares the last two. It adds new columns and refuses type changes, so a column dropped from a
write or retyped shows only when the table is rebuilt (a full refresh: the table removed, then
written anew).
"""

import shutil

import dagster as dg
import pytest
from pyspark.sql import DataFrame, SparkSession

from mssql_lakehouse.lib.check_rules import column_schema_change_checks

PROBE = dg.AssetKey(["silver", "schema_probe"])
BASE = {"id": "bigint", "name": "string", "amount": "decimal(19,4)"}


class ProbeColumns(dg.Config):
    columns: dict[str, str]


def probe_asset(spark: SparkSession) -> dg.AssetsDefinition:
    @dg.asset(key=PROBE)
    def schema_probe(config: ProbeColumns) -> DataFrame:
        # Nullable columns, as a source's are: a write may then leave one out.
        schema = ", ".join(f"{c} {t}" for c, t in config.columns.items())
        return spark.createDataFrame([tuple(None for _ in config.columns)], schema)

    return schema_probe


@pytest.fixture
def write(spark, local_resources):
    """``write(columns)`` materializes the probe with those columns, then its schema check, in one instance."""
    probe = probe_asset(spark)
    checks = column_schema_change_checks([probe])
    with dg.instance_for_test() as instance:

        def run(columns: dict[str, str]) -> dg.ExecuteInProcessResult:
            return dg.materialize(
                [probe, *checks],
                instance=instance,
                resources={"io_manager": local_resources["io_manager"]},
                run_config=dg.RunConfig({"silver__schema_probe": ProbeColumns(columns=columns)}),
                raise_on_error=False,
            )

        yield run


def evaluation(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "column_schema_change"
    return evaluation


def test_the_same_schema_again_passes(write):
    assert evaluation(write(BASE)).passed  # the first write has nothing to compare with
    assert evaluation(write(BASE)).passed


def test_an_added_column_fails(write):
    write(BASE)
    result = evaluation(write({**BASE, "region": "string"}))
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert "Added columns: region" in result.description


def test_a_column_left_out_of_a_write_stays_in_the_table_and_passes(write):
    write(BASE)
    assert evaluation(write({"id": "bigint", "name": "string"})).passed


def test_a_retyped_column_is_refused_and_a_rebuilt_table_fails(write, lakehouse_home):
    write(BASE)
    retyped = {**BASE, "id": "string"}
    refused = write(retyped)
    assert not refused.success  # the IO manager writes nothing and reports no schema
    shutil.rmtree(lakehouse_home / "tables" / "silver" / "schema_probe")
    result = evaluation(write(retyped))
    assert not result.passed
    assert "id: bigint -> string" in result.description


def test_a_rebuilt_table_without_a_column_fails(write, lakehouse_home):
    write(BASE)
    shutil.rmtree(lakehouse_home / "tables" / "silver" / "schema_probe")
    result = evaluation(write({"id": "bigint", "name": "string"}))
    assert not result.passed
    assert "Removed columns: amount" in result.description
