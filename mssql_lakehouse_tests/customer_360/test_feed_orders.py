"""The demo ERP's SQL Server feed applied newest-first after its snapshot, replayed, and in order.

Whatever the order, a user reading the Delta tables sees ``silver/customers`` equal to
``dbo.Customer`` and a sound SCD2 history: at most one current version per customer, and
versions that follow each other without gap or overlap. The snapshot's day run first (as its
``apply_with_partition`` metadata directs) and the earlier days after it is the order a
backfill after the initial load produces.
"""

import datetime as dt
from itertools import pairwise
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from deltalake import DeltaTable

from mssql_lakehouse.defs.customer_360.bronze import customer_snapshot
from mssql_lakehouse.defs.customer_360.common import CUSTOMERS, HISTORY
from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
from mssql_lakehouse.lib.resources.deployment import resources_for
from mssql_lakehouse.lib.transforms.customer_changes import CUSTOMER_COLUMNS
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_demo import erp_path
from mssql_lakehouse_tests.customer_360.change_streams import CURRENT_COLUMNS, HISTORY_COLUMNS, SILVER
from mssql_lakehouse_tests.customer_360.test_assets import SLICE

# The feed tests' small demo ERP: two seeded days, customers that predate its CDC.
from mssql_lakehouse_tests.customer_360.test_demo_feeds import DAYS, demo  # noqa: F401 (a fixture)


def delta_rows(home: Path, key: dg.AssetKey, columns) -> list[tuple]:
    """The table as a user reads it (the ``deltalake`` package, not Spark), sorted."""
    table = DeltaTable(str(home / "tables" / key.path[0] / key.path[1])).to_pyarrow_table(columns=list(columns))
    return sorted((tuple(r[c] for c in columns) for r in table.to_pylist()), key=repr)


def erp_customers(demo_dir: Path) -> list[tuple]:
    with duckdb.connect(str(erp_path(demo_dir)), read_only=True) as con:
        names = ", ".join(c.name for c in CUSTOMER_COLUMNS)
        return sorted(con.execute(f"SELECT {names} FROM dbo.Customer").fetchall(), key=repr)


def history_faults(history: list[tuple]) -> list[str]:
    """Customers with several current versions, or consecutive versions that do not meet exactly."""
    at = {name: i for i, name in enumerate(HISTORY_COLUMNS)}
    versions: dict[int, list[tuple]] = {}
    for row in history:
        versions.setdefault(row[at["customer_id"]], []).append(row)
    faults = []
    for customer, rows in versions.items():
        rows.sort(key=lambda r: r[at["valid_from"]])
        if sum(r[at["is_current"]] for r in rows) > 1:
            faults.append(f"{customer}: several current versions")
        if any(r[at["is_current"]] for r in rows[:-1]):
            faults.append(f"{customer}: a version before the last is current")
        for earlier, later in pairwise(rows):
            if (earlier[at["valid_to"]], earlier[at["valid_to_lsn"]]) != (
                later[at["valid_from"]],
                later[at["valid_from_lsn"]],
            ):
                faults.append(f"{customer}: {earlier[at['valid_to']]} then {later[at['valid_from']]}")
        last = rows[-1]
        if last[at["is_current"]] != (last[at["valid_to"]] is None):
            faults.append(
                f"{customer}: last version open {last[at['valid_to']] is None}, current {last[at['is_current']]}"
            )
    return faults


class Lakehouse:
    def __init__(self, home: Path, demo_dir: Path, monkeypatch: pytest.MonkeyPatch):
        self.home = home
        monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
        monkeypatch.setenv("LAKEHOUSE_DEMO_ERP_DIR", str(demo_dir))
        self.resources = {
            **resources_for(LakehouseSettings.from_env()),
            "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), feed="sqlserver"),
        }

    def snapshot(self) -> str:
        """Land the initial load; the day whose silver run applies it."""
        result = dg.materialize([customer_snapshot], resources=self.resources, partition_key=DAYS[-1].isoformat())
        assert result.success
        [event] = result.get_asset_materialization_events()
        return event.materialization.metadata["apply_with_partition"].value

    def run(self, day: dt.date) -> None:
        assert dg.materialize(SLICE, resources=self.resources, partition_key=day.isoformat()).success

    def silver(self) -> tuple[list[tuple], list[tuple]]:
        return delta_rows(self.home, HISTORY, HISTORY_COLUMNS), delta_rows(self.home, CUSTOMERS, CURRENT_COLUMNS)


def test_newest_first_after_the_snapshot_then_a_replay_equals_the_erp_and_the_in_order_run(demo, tmp_path, monkeypatch):  # noqa: F811 (the imported fixture)
    in_erp = erp_customers(demo)
    silver_columns = [CURRENT_COLUMNS.index(c) for c in SILVER]

    newest_first = Lakehouse(tmp_path / "newest_first", demo, monkeypatch)
    assert newest_first.snapshot() == DAYS[-1].isoformat()
    for day in reversed(DAYS):
        newest_first.run(day)
    history, current = newest_first.silver()
    assert history_faults(history) == []
    assert sorted((tuple(r[i] for i in silver_columns) for r in current), key=repr) == in_erp

    newest_first.run(DAYS[0])  # a replay changes nothing
    assert newest_first.silver() == (history, current)

    in_order = Lakehouse(tmp_path / "in_order", demo, monkeypatch)
    in_order.snapshot()
    for day in DAYS:
        in_order.run(day)
    assert history_faults(in_order.silver()[0]) == []
    assert in_order.silver() == (history, current)
