"""The demo ERP's clock runs in the business day's zone: DST days have 23 or 25 hours of existing times."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import duckdb
import pytest

from mssql_lakehouse_demo import SeedError, erp_path, inventory_path, seed
from mssql_lakehouse_demo.debezium_export import export

ZONE = "America/New_York"
SPRING_FORWARD = dt.date(2026, 3, 8)  # 02:00-03:00 does not exist in New York
WALL_CLOCK_COLUMNS = (
    ('"Sales"."SalesOrderHeader"', '"ModifiedDate"'),
    ('"Sales"."SalesOrderDetail"', '"ModifiedDate"'),
    ('"dbo"."Customer"', '"ModifiedDate"'),
    ('"Finance"."GLEntry"', '"ModifiedDate"'),
    ("cdc.lsn_time_mapping", "tran_begin_time"),
    ("cdc.lsn_time_mapping", "tran_end_time"),
    ("ct.versions", "commit_time"),
)


def exists_on_wall_clock(moment: dt.datetime, zone: ZoneInfo) -> bool:
    """False for a time in a spring-forward gap: through UTC and back it comes out another hour."""
    there = moment.replace(tzinfo=zone)
    return there.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) == moment


@pytest.fixture(scope="module")
def new_york_demo(tmp_path_factory):
    demo_dir = tmp_path_factory.mktemp("new_york_demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAKEHOUSE_ERP_TIMEZONE", ZONE)
        seed(demo_dir, SPRING_FORWARD - dt.timedelta(days=1), 3, 0.01, regions=["amer"])
    return demo_dir


def test_every_time_of_a_spring_forward_day_exists_in_the_erp_zone(new_york_demo):
    zone = ZoneInfo(ZONE)
    seen: list[dt.datetime] = []
    with duckdb.connect(str(erp_path(new_york_demo)), read_only=True) as con:
        for table, column in WALL_CLOCK_COLUMNS:
            times = [
                r[0]
                for r in con.execute(
                    f"SELECT {column} FROM {table} WHERE CAST({column} AS DATE) = ?", [SPRING_FORWARD]
                ).fetchall()
            ]
            assert times, table
            missing = [t for t in times if not exists_on_wall_clock(t, zone)]
            assert not missing, (table, column, missing[:3])
            seen += times
    # The day still runs from its first hour to its last.
    assert min(seen).hour == 0 and max(seen).hour == 23, (min(seen), max(seen))


def test_temporal_periods_are_utc_and_debezium_instants_are_the_wall_clock_commits(new_york_demo, tmp_path):
    zone = ZoneInfo(ZONE)
    with duckdb.connect(str(inventory_path(new_york_demo, "amer")), read_only=True) as con:
        rows = con.execute(
            'SELECT "ModifiedDate", "ValidFrom" FROM "Production"."ProductInventory" '
            'WHERE CAST("ModifiedDate" AS DATE) = ?',
            [SPRING_FORWARD],
        ).fetchall()
    assert rows
    for modified, valid_from in rows:
        assert valid_from == modified.replace(tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)

    with duckdb.connect(str(erp_path(new_york_demo)), read_only=True) as con:
        commits = {
            r[0].hex().upper(): r[1]
            for r in con.execute("SELECT start_lsn, tran_end_time FROM cdc.lsn_time_mapping").fetchall()
        }
    for path in export(new_york_demo, tmp_path / "events"):
        for line in path.read_text().splitlines():
            source = json.loads(line)["payload"]["source"]
            commit_time = commits[source["commit_lsn"].replace(":", "").upper()]
            shown = dt.datetime.fromtimestamp(source["ts_ms"] / 1000, zone).replace(tzinfo=None)
            assert shown == commit_time.replace(microsecond=commit_time.microsecond // 1000 * 1000)


def test_a_demo_is_extended_on_its_own_clock_only(new_york_demo, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_ERP_TIMEZONE", "UTC")
    with pytest.raises(SeedError, match="America/New_York"):
        seed(new_york_demo, SPRING_FORWARD + dt.timedelta(days=2), 1, 0.01)
