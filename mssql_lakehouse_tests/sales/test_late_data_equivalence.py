"""Nightly runs with the late-data sensor's refreshes give the gold of one backfill, and a replay requests nothing.

The demo ERP inserts late orders dated one to three days back and amends or deletes orders of
the 30 days before, so every nightly run after the first changes silver rows of earlier order
dates. The sensor is evaluated as the daemon evaluates it after each night, and what it requests
runs in the same instance.
"""

import datetime as dt

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from mssql_lakehouse.defs.sales.sensors import sales_late_data
from mssql_lakehouse_demo import seed
from mssql_lakehouse_tests.sensors.daemon import Daemon

SCALE = 0.02
DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(3)]
GOLD = ["daily_sku_sales", "sku_forecast_alignment", "sku_alerts"]


def late_data_daemon(lh) -> Daemon:
    return Daemon.of(lh.defs, lh.instance, sales_late_data)


def tick_and_run(daemon: Daemon) -> list[dg.RunRequest]:
    """One evaluation and its runs; the sensor never asks for more than one run at a time."""
    tick, results = daemon.tick_and_launch()
    assert len(tick.requests) <= 1, [r.tags for r in tick.requests]
    assert all(result is not None and result.success for result in results)
    return tick.requests


def gold(lh, name: str) -> tuple[pa.Schema, list[dict]]:
    """A gold table as a reader sees it: its schema and every row, sorted on all columns.

    Gold tables have no run-specific columns (no load or run timestamps), so every column is compared.
    """
    table = DeltaTable(lh.path("gold", name)).to_pyarrow_table()
    rows = table.sort_by([(c, "ascending") for c in table.column_names]).to_pylist()
    return table.schema, rows


@pytest.fixture(scope="module")
def nightly(make_lakehouse):
    lh = make_lakehouse("late_data_nightly")
    seed(lh.demo_dir, DAYS[0], len(DAYS), SCALE)
    lh.sensor = late_data_daemon(lh)
    lh.refreshes = []
    for day in DAYS:
        lh.run(day.isoformat())
        lh.refreshes += tick_and_run(lh.sensor)
    return lh


def test_nightly_runs_and_the_sensors_refreshes_equal_one_backfill(nightly, make_lakehouse):
    # Late orders and amendments of earlier days arrive every night after the first.
    later = [r for r in nightly.refreshes if r.tags["dagster/asset_partition_range_start"] < DAYS[-1].isoformat()]
    assert later, "the demo's late lines should make the sensor refresh earlier gold days"

    backfill = make_lakehouse("late_data_backfill")
    seed(backfill.demo_dir, DAYS[0], len(DAYS), SCALE)
    backfill.run(DAYS[0].isoformat(), DAYS[-1].isoformat())
    # The backfill too changed orders dated before its first day: the sensor refreshes them once.
    tick_and_run(late_data_daemon(backfill))

    for name in GOLD:
        assert gold(nightly, name) == gold(backfill, name), f"gold/{name}"


def test_a_replayed_day_requests_no_refresh(nightly):
    before = {name: gold(nightly, name) for name in GOLD}
    nightly.run(DAYS[1].isoformat())
    tick = nightly.sensor.tick()
    assert tick.requests == [], [r.tags for r in tick.requests]
    assert {name: gold(nightly, name) for name in GOLD} == before
