"""The pools whose steps must never overlap: limited on the instance by `mssql-lakehouse pools`.

A pool's limit lives on the Dagster instance, not in code; a pool renamed in code but not in the
list the command sets (or the other way round) would leave its steps running side by side.
"""

import dagster as dg
from click.testing import CliRunner

from mssql_lakehouse.cli import main
from mssql_lakehouse.definitions import build_defs
from mssql_lakehouse.lib.pools import SERIAL_POOLS
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_tests.faults.processes import REPO


def test_every_serial_pool_is_the_pool_of_lakehouse_steps():
    defs = build_defs(LakehouseSettings.from_env())
    pools = set().union(*(node.pools for node in defs.resolve_asset_graph().asset_nodes))
    assert set(SERIAL_POOLS) <= pools


def test_the_command_limits_every_serial_pool_to_one_step_on_the_instance(tmp_path, monkeypatch):
    (tmp_path / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["pools"])
    assert result.exit_code == 0, result.output
    with dg.DagsterInstance.get() as instance:
        limits = {pool: instance.event_log_storage.get_concurrency_info(pool).slot_count for pool in SERIAL_POOLS}
    assert limits == dict.fromkeys(SERIAL_POOLS, 1)
    assert sorted(line.split(":")[0] for line in result.output.splitlines()) == sorted(SERIAL_POOLS)
