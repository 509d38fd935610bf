"""A New York ERP: every slice cuts its days and months on the ERP's wall clock, DST days included.

The sales, Customer 360 and finance slices run in a fresh interpreter with
``LAKEHOUSE_ERP_TIMEZONE=America/New_York`` (partitions are built when imported), on a demo
ERP around 2026-11-01, the day New York falls back (25 hours, 01:00-02:00 twice) and the first
day of a month. What they land is read back with ``deltalake`` and compared with the ERP's rows
by their wall-clock date.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable

from mssql_lakehouse_demo import erp_path

ZONE = "America/New_York"
DAY = dt.date(2026, 11, 1)  # a 25-hour day in New York, and the first day of a month
PERIOD_BEFORE = "2026-10"
STEPS = [
    {"seed": {"start": "2026-10-31", "days": 3, "scale": 0.01}},
    {"assets": "sales", "partition": DAY.isoformat()},
    {"assets": "sales", "partition": DAY.isoformat()},
    # The day before first: a window cut on another clock would take (and refuse) DAY's early changes.
    {"assets": "customer_360", "partition": (DAY - dt.timedelta(days=1)).isoformat()},
    {"assets": "customer_360", "partition": DAY.isoformat()},
    {"job": "finance_close", "partition": PERIOD_BEFORE},
]
# Settings of a developer's shell that would point the run elsewhere.
UNSET = (
    "LAKEHOUSE_TABLES_ROOT",
    "LAKEHOUSE_DEMO_ERP_DIR",
    "LAKEHOUSE_ACTIVE_SITE",
    "MSSQL_SERVER",
    "LAKEHOUSE_CDC_FEED",
    "LAKEHOUSE_ARCHIVE_ROOT",
    "LAKEHOUSE_PARTITIONS_START",
    "LAKEHOUSE_CATALOG",
)


@pytest.fixture(scope="module")
def new_york(tmp_path_factory) -> tuple[Path, list[dict]]:
    """A lakehouse home after the steps, and each step's outcome."""
    home = tmp_path_factory.mktemp("new_york")
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(LAKEHOUSE_HOME=str(home), LAKEHOUSE_ERP_TIMEZONE=ZONE)
    log = home / "run.log"  # the run's progress and Spark's output, to follow a slow run
    with log.open("w") as err:
        done = subprocess.run(
            [sys.executable, "-m", "mssql_lakehouse_tests.timezone.run_in_zone", json.dumps(STEPS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=2400,
        )
    assert done.returncode == 0, log.read_text()[-4000:]
    return home, json.loads(done.stdout.strip().splitlines()[-1])


def outcome(steps: list[dict], index: int) -> dict:
    result = steps[index]
    assert result["success"], result["errors"]
    return result


def delta_rows(home: Path, layer: str, name: str, columns: list[str]) -> list[dict]:
    return DeltaTable(str(home / "tables" / layer / name)).to_pyarrow_table(columns=columns).to_pylist()


def erp(home: Path, sql: str, params: list) -> list[tuple]:
    with duckdb.connect(str(erp_path(home / "demo_erp")), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def erp_ids_of_day(home: Path, table: str, key: str) -> set[int]:
    rows = erp(home, f'SELECT "{key}", "ModifiedDate" FROM {table} WHERE CAST("ModifiedDate" AS DATE) = ?', [DAY])
    hours = {modified.hour for _, modified in rows}
    # The day's first and last hours, where a UTC clock would cut New York's day.
    assert {0, 23} <= hours, sorted(hours)
    return {r[0] for r in rows}


def test_a_sales_day_lands_exactly_the_erp_rows_of_its_wall_clock_date_and_replays(new_york):
    home, steps = new_york
    outcome(steps, 1)
    outcome(steps, 2)  # the replay of the day
    for layer_table, erp_table, key, column in (
        ("sales_order_header", '"Sales"."SalesOrderHeader"', "SalesOrderID", "SalesOrderID"),
        ("sales_order_detail", '"Sales"."SalesOrderDetail"', "SalesOrderDetailID", "SalesOrderDetailID"),
    ):
        landed = {r[column] for r in delta_rows(home, "bronze", layer_table, [column])}
        assert landed == erp_ids_of_day(home, erp_table, key), layer_table
    silver = {r["sales_order_id"] for r in delta_rows(home, "silver", "sales_orders", ["sales_order_id"])}
    assert silver == erp_ids_of_day(home, '"Sales"."SalesOrderHeader"', "SalesOrderID")


def test_customer_changes_land_in_their_local_day_and_none_is_quarantined(new_york):
    home, steps = new_york
    for day_before_and_day in (3, 4):
        result = outcome(steps, day_before_and_day)
        assert "bronze/customer_changes:no_quarantined_events" not in result["failed_checks"]
    expected = erp(
        home,
        'SELECT upper(hex(c."__$start_lsn")), upper(hex(c."__$seqval")), m.tran_end_time '
        'FROM cdc."dbo_Customer_CT" c JOIN cdc.lsn_time_mapping m ON m.start_lsn = c."__$start_lsn" '
        'WHERE c."__$operation" <> 3 AND CAST(m.tran_end_time AS DATE) = ?',
        [DAY],
    )
    assert any(t.hour < 5 for *_, t in expected), "the demo should change customers early in the morning"
    landed = delta_rows(home, "bronze", "customer_changes", ["commit_lsn", "change_lsn", "commit_time"])
    of_day = [(r["commit_lsn"], r["change_lsn"]) for r in landed if r["commit_time"].date() == DAY]
    assert sorted(of_day) == sorted((c, s) for c, s, _ in expected)
    quarantined = DeltaTable(str(home / "tables" / "bronze" / "customer_changes_quarantine")).to_pyarrow_table()
    assert quarantined.num_rows == 0, quarantined.to_pylist()[:3]


def test_the_close_of_a_period_takes_the_erp_rows_of_its_local_month(new_york):
    home, steps = new_york
    outcome(steps, 5)
    expected = {
        r[0]
        for r in erp(
            home,
            'SELECT "EntryID" FROM "Finance"."GLEntry" WHERE "PostingDate" >= ? AND "PostingDate" < ?',
            [dt.date(2026, 10, 1), dt.date(2026, 11, 1)],
        )
    }
    assert expected
    landed = {r["EntryID"] for r in delta_rows(home, "bronze", "gl_entries", ["EntryID"])}
    assert landed == expected
