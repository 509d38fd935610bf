"""What a failed or repeated run leaves behind: a stale SCD1 is caught and repaired, and a re-run
after the landing files were pruned does not erase the day."""

import random

import dagster as dg
from delta.tables import DeltaTable as SparkDeltaTable
from deltalake import DeltaTable

from mssql_lakehouse.defs.customer_360.checks import matches_history_current_rows
from mssql_lakehouse.defs.customer_360.common import CHANGES, CUSTOMERS
from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_tests.customer_360.change_streams import CURRENT_COLUMNS, debezium_lines, generate, oracle
from mssql_lakehouse_tests.customer_360.test_assets import DAYS, SLICE, land


def read(home, key: dg.AssetKey, columns=None) -> list[tuple]:
    table = DeltaTable(str(home / "tables" / key.path[0] / key.path[1])).to_pyarrow_table(columns=columns)
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)


def scd1_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "matches_history_current_rows"]
    return evaluation


def test_a_run_that_died_between_history_and_scd1_is_caught_and_repaired_by_the_next_run(
    spark, lakehouse_home, local_resources
):
    stream = generate(31, DAYS[:2], per_day=6)
    land(lakehouse_home, debezium_lines(stream), files=2, rng=random.Random(31))
    resources = {
        **local_resources,
        "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), feed="debezium"),
    }
    with_check = [*SLICE, matches_history_current_rows]
    assert dg.materialize(with_check, resources=resources, partition_key=DAYS[0].isoformat()).success
    scd1 = SparkDeltaTable.forPath(spark, str(lakehouse_home / "tables" / "silver" / "customers"))
    before_second_day = scd1.history(1).collect()[0]["version"]
    assert dg.materialize(with_check, resources=resources, partition_key=DAYS[1].isoformat()).success

    # The second day's run as if it had died after committing the history: SCD1 as it was before.
    scd1.restoreToVersion(before_second_day)
    check_alone = dg.materialize(
        with_check, resources=resources, selection=dg.AssetSelection.checks(matches_history_current_rows)
    )
    assert scd1_check(check_alone).passed is False

    # Any later run (here a replay of the first day, which touches other customers) repairs it.
    repair = dg.materialize(with_check, resources=resources, partition_key=DAYS[0].isoformat())
    assert scd1_check(repair).passed is True
    [written] = [
        m for m in repair.asset_materializations_for_node("customers_history_and_customers") if m.asset_key == CUSTOMERS
    ]
    assert written.metadata["stale_keys_repaired"].value > 0
    assert read(lakehouse_home, CUSTOMERS, list(CURRENT_COLUMNS)) == sorted(oracle(stream)[1], key=repr)


def test_a_rerun_after_landed_files_were_pruned_is_refused_unless_a_full_refresh_is_asked_for(
    lakehouse_home, local_resources
):
    stream = generate(32, DAYS[:1], per_day=6)
    land(lakehouse_home, debezium_lines(stream), files=2, rng=random.Random(32))
    resources = {
        **local_resources,
        "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), feed="debezium"),
    }
    day = DAYS[0].isoformat()
    assert dg.materialize(SLICE, resources=resources, partition_key=day).success
    landed = read(lakehouse_home, CHANGES)
    pruned = sorted((lakehouse_home / "landing" / "debezium" / "customers").glob("*.json"))[0]
    pruned.unlink()

    rerun = dg.materialize(SLICE, resources=resources, partition_key=day, raise_on_error=False)
    assert not rerun.success
    message = rerun.failure_data_for_node("customer_changes").error.message
    assert pruned.name in message and "full_refresh" in message
    assert read(lakehouse_home, CHANGES) == landed

    full_refresh = {"ops": {"customer_changes": {"config": {"full_refresh": True}}}}
    assert dg.materialize(SLICE, resources=resources, partition_key=day, run_config=full_refresh).success
    remaining = read(lakehouse_home, CHANGES, ["_source"])
    assert 0 < len(remaining) < len(landed) and all(pruned.name not in source for (source,) in remaining)
