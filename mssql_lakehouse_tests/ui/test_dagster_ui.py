"""The three ways users drive the lakehouse, through the real webserver and daemon and a real browser.

One `dagster dev` (as `make dev` starts it) serves a lakehouse whose demo ERP holds the last three
days. Debian's chromium, driven by Playwright, does what a user does: looks at the asset graph,
materializes a day of `gold/sku_alerts` with its upstream from the Materialize dialog, launches a
backfill of two days, and switches on a sensor; the daemon launches every run in its own process.
Each test then reads what landed with an independent reader (`deltalake`) and the run records.
Screenshots of every step are written to the folder printed at the end of the test session.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus
from deltalake import DeltaTable
from playwright.sync_api import Browser, Page, expect, sync_playwright

from mssql_lakehouse.lib.partitions import daily_partitions
from mssql_lakehouse_demo import seed
from mssql_lakehouse_tests.faults.processes import REPO, environment
from mssql_lakehouse_tests.ui.dagster_dev import DagsterDev

pytestmark = pytest.mark.ui

LAST = dt.date.fromisoformat(daily_partitions.get_last_partition_key())
DAYS = [LAST - dt.timedelta(days=n) for n in (2, 1, 0)]
SCALE = 0.002
MSSQL_LAKEHOUSE = str(Path(sys.executable).parent / "mssql-lakehouse")
UI_TIMEOUT_MS = 60_000
_FAILED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def chromium() -> str:
    path = os.environ.get("LAKEHOUSE_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("the browser tests need Debian's chromium (apt-get install chromium) or LAKEHOUSE_TEST_CHROMIUM")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[DagsterDev]:
    root = tmp_path_factory.mktemp("ui")
    # The ERP as it is the night after the first day; the later days come before the runs that read
    # them. Seeded ahead, the first day's orders would all carry a later modification day already,
    # and a run of that day alone would land none of them in its partition (they land with the later
    # days, as they would in production if the day first ran after them).
    seed(root / "home" / "demo_erp", DAYS[0], 1, SCALE)
    server = DagsterDev.start(root / "home", root / "dagster_home", root / "dagster_dev.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(server, browser, screenshots) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{server.url}/asset-groups")
    # A new instance greets its first visitor with an invitation to Dagster's community, once.
    page.get_by_role("button", name="Skip").click()
    yield page
    page.close()


def shoot(page: Page, screenshots: Path, name: str) -> None:
    page.screenshot(path=str(screenshots / f"{name}.png"))


def lineage_of(server: DagsterDev, selection: str) -> str:
    return f"{server.url}/asset-groups~{urllib.parse.quote(selection, safe='')}/"


def delta(server: DagsterDev, layer: str, table: str) -> DeltaTable:
    return DeltaTable(str(server.home / "tables" / layer / table))


def launch_from_materialize_dialog(page: Page, partitions: str, button: str, confirm: bool = False) -> None:
    """In the lineage view's selection: Materialize all, confirm the assets it adds if asked, pick ``partitions``."""
    page.get_by_role("button", name="Materialize all").click()
    if confirm:
        page.get_by_role("button", name="Confirm").click()
    dialog = page.get_by_role("dialog").last
    picker = dialog.get_by_placeholder("No matching partitions")
    picker.fill(partitions)
    picker.press("Enter")
    dialog.get_by_role("button", name=button).click()
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_the_asset_graph_shows_every_use_case(server, page, screenshots):
    page.goto(f"{server.url}/asset-groups")
    for group in ("sales", "inventory", "customer_360", "finance", "dr"):
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    shoot(page, screenshots, "1-asset-graph")


def test_a_day_materialized_from_the_ui_lands_that_day(server, page, screenshots):
    day = DAYS[0]
    page.goto(lineage_of(server, '+key:"gold/sku_alerts"'))
    expect(page.get_by_text("sku_forecast_alignment").first).to_be_visible()
    shoot(page, screenshots, "2-sku-alerts-and-upstream")
    # The UI asks to confirm: the quarantine is an output of the silver lines step it selected.
    launch_from_materialize_dialog(page, day.isoformat(), "Launch 1 run", confirm=True)
    shoot(page, screenshots, "3-launched-one-day")

    [run] = server.wait_for_runs(lambda r: r.tags.get("dagster/partition") == day.isoformat() and not _automated(r))
    assert run.status == dg.DagsterRunStatus.SUCCESS, f"run {run.run_id} failed; see {server.log}"
    assert dg.AssetKey(["gold", "sku_alerts"]) in run.asset_selection
    sales = delta(server, "gold", "daily_sku_sales").to_pyarrow_table().to_pylist()
    assert day in {row["order_date"] for row in sales}

    # The partitioned asset's page: its partitions, checks, row count, Delta version and columns.
    page.goto(f"{server.url}/assets/gold/daily_sku_sales")
    for shown in ("Latest materialization", "Latest check results", "Row count", "delta_version", "net_revenue"):
        expect(page.get_by_text(shown).first).to_be_visible()
    shoot(page, screenshots, "4-partitioned-asset")
    page.get_by_role("tab", name="Partitions", exact=True).click()
    expect(page.get_by_text(day.isoformat()).first).to_be_visible()
    shoot(page, screenshots, "5-partitions")


def test_a_backfill_from_the_ui_runs_its_days_in_one_run(server, page, screenshots):
    # Days up to the last one: the rolling week of a day before it would add the days after it.
    first, last = DAYS[1], DAYS[2]
    seed(server.home / "demo_erp", first, 2, SCALE)
    page.goto(lineage_of(server, 'group:"sales"'))
    launch_from_materialize_dialog(page, f"[{first}...{last}]", "Launch backfill")
    shoot(page, screenshots, "6-backfill-launched")

    with server.instance() as instance:
        [backfill] = instance.get_backfills()
    assert server.wait_for_backfill(backfill.backfill_id) == BulkActionStatus.COMPLETED_SUCCESS
    [run] = server.wait_for_runs(lambda r: r.tags.get("dagster/backfill") == backfill.backfill_id)
    assert run.status == dg.DagsterRunStatus.SUCCESS, f"run {run.run_id} failed; see {server.log}"
    assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]) == (
        first.isoformat(),
        last.isoformat(),
    )
    days = {row["order_date"] for row in delta(server, "gold", "daily_sku_sales").to_pyarrow_table().to_pylist()}
    assert {first, last} <= days

    page.goto(f"{server.url}/runs/b/{backfill.backfill_id}")
    expect(page.get_by_text("Completed").first).to_be_visible()
    shoot(page, screenshots, "7-backfill-completed")
    page.goto(f"{server.url}/assets/silver/sales_orders?view=checks")
    expect(page.get_by_text("unique_key").first).to_be_visible()
    shoot(page, screenshots, "8-checks")


def test_a_landed_export_is_ingested_by_the_daemons_file_arrival_sensor(server, page, screenshots):
    # The inventory_file_arrival sensor runs by default: landing a region's export is all it takes.
    subprocess.run(
        [MSSQL_LAKEHOUSE, "demo", "export-inventory", "--day", LAST.isoformat(), "--region", "amer"],
        env=environment(server.home, server.dagster_home),
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    [run] = server.wait_for_runs(lambda r: r.tags.get("dagster/sensor_name") == "inventory_file_arrival")
    assert run.status == dg.DagsterRunStatus.SUCCESS, f"run {run.run_id} failed; see {server.log}"
    positions = delta(server, "gold", "inventory_position").to_pyarrow_table().to_pylist()
    assert positions
    assert {(row["position_date"], row["region"]) for row in positions} == {(LAST, "amer")}

    page.goto(f"{server.url}/locations/mssql_lakehouse/sensors/inventory_file_arrival")
    expect(page.get_by_text("Running").first).to_be_visible()
    shoot(page, screenshots, "9-inventory-sensor")


def test_the_customer_360_sensor_switched_on_in_the_ui_runs_the_days_of_the_erps_changes(server, page, screenshots):
    page.goto(f"{server.url}/locations/mssql_lakehouse/sensors/customer_changes_sensor")
    page.locator("label[for^=checkbox]").first.click()
    expect(page.get_by_text("Running").first).to_be_visible()
    shoot(page, screenshots, "10-customer-sensor-on")

    runs = server.wait_for_runs(
        lambda r: r.tags.get("dagster/sensor_name") == "customer_changes_sensor", count=len(DAYS), timeout=900
    )
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), f"see {server.log}"
    assert {r.tags["dagster/partition"] for r in runs} == {d.isoformat() for d in DAYS}
    profiles = delta(server, "gold", "customer_360").to_pyarrow_table().to_pylist()
    assert {row["as_of_date"] for row in profiles} == set(DAYS)
    shoot(page, screenshots, "11-customer-sensor-runs")


def test_no_run_the_daemon_launched_failed(server):
    with server.instance() as instance:
        failed = [(r.run_id, r.job_name, dict(r.tags)) for r in instance.get_runs() if r.status in _FAILED]
    assert not failed, f"see {server.log}"


def _automated(run: dg.DagsterRun) -> bool:
    return "dagster/sensor_name" in run.tags or "dagster/schedule_name" in run.tags
