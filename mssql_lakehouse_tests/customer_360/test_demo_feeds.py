"""The seeded demo ERP through both feeds: its CDC table pulled, and exported as Debezium events."""

import datetime as dt
import json

import dagster as dg
import duckdb
import pytest

from mssql_lakehouse.defs.customer_360.bronze import customer_snapshot
from mssql_lakehouse.defs.customer_360.common import CHANGES, CUSTOMERS, HISTORY, SNAPSHOT
from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
from mssql_lakehouse.lib.resources.deployment import resources_for
from mssql_lakehouse.lib.transforms.customer_changes import CUSTOMER_COLUMNS as DECLARED_COLUMNS
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_demo import erp_path, seed
from mssql_lakehouse_demo.debezium_export import EventSettings, export, main
from mssql_lakehouse_tests.customer_360.change_streams import CURRENT_COLUMNS, HISTORY_COLUMNS, SILVER, rows
from mssql_lakehouse_tests.customer_360.test_assets import SLICE, table

FIRST_DAY = dt.date(2026, 5, 4)
CUSTOMER_COLUMNS = [c.name for c in DECLARED_COLUMNS]
DAYS = [FIRST_DAY, FIRST_DAY + dt.timedelta(days=1)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    demo_dir = tmp_path_factory.mktemp("customer_demo")
    seed(demo_dir, FIRST_DAY, len(DAYS), 0.05, regions=["amer"])
    return demo_dir


def test_export_pairs_updates_and_is_idempotent(demo, tmp_path):
    out = tmp_path / "landing"
    written = export(demo, out)
    assert [p.name for p in written] == [f"dbo_Customer-{d.isoformat()}.json" for d in DAYS]
    with duckdb.connect(str(erp_path(demo)), read_only=True) as con:
        counts = dict(con.execute('SELECT "__$operation", count(*) FROM cdc."dbo_Customer_CT" GROUP BY 1').fetchall())
    events = [json.loads(line) for p in written for line in p.read_text().splitlines()]
    ops = [e["payload"]["op"] for e in events]
    # An update's rows 3 and 4 make one "u"; the demo never changes a primary key.
    assert ops.count("u") == counts.get(4, 0) == counts.get(3, 0)
    assert ops.count("c") == counts.get(2, 0) and ops.count("d") == counts.get(1, 0)
    positions = [(e["payload"]["source"]["commit_lsn"], e["payload"]["source"]["change_lsn"]) for e in events]
    assert positions == sorted(positions)
    assert export(demo, out) == []  # nothing changed: no file rewritten

    main(
        ["--demo-dir", str(demo), "--out", str(tmp_path / "plain"), "--no-schema", "--decimal-handling-mode", "string"]
    )
    plain = json.loads((tmp_path / "plain" / f"dbo_Customer-{DAYS[0].isoformat()}.json").read_text().splitlines()[0])
    assert "schema" not in plain and plain["op"] in ("c", "u", "d")


def test_both_feeds_give_the_same_silver_tables_for_the_demo(spark, demo, tmp_path, monkeypatch):
    silver = {}
    for feed in ("sqlserver", "debezium"):
        home = tmp_path / feed
        monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
        monkeypatch.setenv("LAKEHOUSE_DEMO_ERP_DIR", str(demo))
        if feed == "debezium":
            export(demo, home / "landing" / "debezium" / "customers", settings=EventSettings(with_schema=False))
        resources = {
            **resources_for(LakehouseSettings.from_env()),
            "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), feed=feed),
        }
        for day in reversed(DAYS):
            assert dg.materialize(SLICE, resources=resources, partition_key=day.isoformat()).success
        silver[feed] = (
            rows(table(spark, home, HISTORY), HISTORY_COLUMNS),
            rows(table(spark, home, CUSTOMERS), CURRENT_COLUMNS),
            table(spark, home, CHANGES).count(),
        )
    assert silver["sqlserver"] == silver["debezium"]
    history, current, events = silver["sqlserver"]
    assert events > 0 and len(history) >= len(current) > 0


def test_the_snapshot_brings_every_customer_of_the_erp_to_silver_once(spark, demo, tmp_path, monkeypatch):
    """The demo's customers predate CDC: without the snapshot only the changed ones would reach silver."""
    home = tmp_path / "snapshot"
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    monkeypatch.setenv("LAKEHOUSE_DEMO_ERP_DIR", str(demo))
    resources = {
        **resources_for(LakehouseSettings.from_env()),
        "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), feed="sqlserver"),
    }

    def snapshot() -> dict:
        result = dg.materialize([customer_snapshot], resources=resources, partition_key=DAYS[-1].isoformat())
        assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
        [event] = result.get_asset_materialization_events()
        return {k: v.value for k, v in event.materialization.metadata.items()}

    first = snapshot()
    assert first["apply_with_partition"] == DAYS[-1].isoformat()  # the day of the last captured change
    for day in DAYS:
        assert dg.materialize(SLICE, resources=resources, partition_key=day.isoformat()).success

    with duckdb.connect(str(erp_path(demo)), read_only=True) as con:
        in_erp = sorted(con.execute(f"SELECT {', '.join(CUSTOMER_COLUMNS)} FROM dbo.Customer").fetchall())
    current = rows(table(spark, home, CUSTOMERS), SILVER)
    assert sorted(current) == in_erp

    # Customers that changed on the seeded days keep the versions their changes opened: the snapshot
    # (equal to their last change) opens none; every other customer starts at the snapshot.
    history = table(spark, home, HISTORY)
    changed = {r[0] for r in table(spark, home, CHANGES).select("CustomerID").distinct().collect()}
    from_snapshot = {
        r[0] for r in history.where(f"valid_from_lsn = '{first['snapshot_lsn']}'").select("customer_id").collect()
    }
    assert from_snapshot and from_snapshot == {c[0] for c in in_erp} - changed

    before = (rows(history, HISTORY_COLUMNS), current)
    assert snapshot()["snapshot_lsn"] == first["snapshot_lsn"]  # nothing captured since: the same snapshot
    assert dg.materialize(SLICE, resources=resources, partition_key=DAYS[-1].isoformat()).success
    assert (rows(table(spark, home, HISTORY), HISTORY_COLUMNS), rows(table(spark, home, CUSTOMERS), SILVER)) == before
    assert table(spark, home, SNAPSHOT).count() == len(in_erp)
