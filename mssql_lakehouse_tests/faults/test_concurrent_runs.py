"""Two ``dagster asset materialize`` processes at the same time on one lakehouse and one Dagster instance.

Dagster runs two runs at once here (``max_concurrent_runs: 2``): the inventory sensor asks for
one run per (day, region), backfills and the nightly schedule overlap. Each scenario starts two
real processes on an empty lakehouse, so every table's first write races the other process's,
and every later write of a shared table competes for the same Delta log. Afterwards the tables,
read with the ``deltalake`` package, must equal those of the same partitions run one after the
other (in process, with the session's Spark) from the same inputs.

The two sales days are 31 days apart on purpose: nearer days are not independent data. A day's
ERP activity amends the orders of the 30 days before it (``ORDER_WINDOW_DAYS``), and a day's
forecast alignment reads the 6 days before it, so two nearer days run at once may read each
other's rows half-written by design of the slice, not by a fault of the writes.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from mssql_lakehouse_demo import seed
from mssql_lakehouse_demo.inventory_export import export_inventory
from mssql_lakehouse_tests.faults.processes import dagster_instance_home, start_materialize
from mssql_lakehouse_tests.faults.tables import Rows, contents
from mssql_lakehouse_tests.isolated_lakehouse import IsolatedLakehouse, isolated_lakehouses

SCALE = 0.01
DAY = dt.date(2026, 11, 1)
REGIONS = ("amer", "emea")
SALES_DAYS = (DAY - dt.timedelta(days=31), DAY)
CONFLICT_RETRIES = "delta_conflict_retries"
RUN_NAMES = ("first", "second")
DAGSTER_HOME = "dagster_home"


@dataclass
class Scenario:
    """A lakehouse written by two processes at once, and one written by the same partitions in turn."""

    at_once: Path
    in_turn: Path
    seconds: float

    @cached_property
    def tables_at_once(self) -> dict[str, Rows]:
        return contents(self.at_once / "tables")

    @cached_property
    def tables_in_turn(self) -> dict[str, Rows]:
        return contents(self.in_turn / "tables")

    @contextmanager
    def instance(self) -> Iterator[dg.DagsterInstance]:
        """The Dagster instance both processes ran in."""
        dagster_home = str(self.at_once / DAGSTER_HOME)
        # The repository's dagster.yaml puts the instance's storage in $DAGSTER_HOME.
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DAGSTER_HOME", dagster_home)
            with dg.DagsterInstance.from_config(dagster_home) as instance:
                yield instance


@pytest.fixture(scope="module")
def make_lakehouse(spark, tmp_path_factory) -> Iterator:
    with isolated_lakehouses(
        tmp_path_factory,
        spark,
        IsolatedLakehouse,
        slices=("inventory", "sales"),
    ) as make:
        yield make


def _run_at_once_and_in_turn(
    make_lakehouse,
    name: str,
    inputs: Path,
    select: str,
    job: str,
    partitions: Sequence[str],
    environment: Mapping[str, str] | None = None,
) -> Scenario:
    """Start one process per partition at once on a copy of the demo ERP in ``inputs``; meanwhile run
    them in turn on another copy. ``environment`` is given to both (it may point both at shared inputs)."""
    at_once = inputs.parent / f"{name}_at_once"
    shutil.copytree(inputs / "demo_erp", at_once / "demo_erp")
    dagster_home = dagster_instance_home(at_once / DAGSTER_HOME)
    began = time.monotonic()
    runs = [
        start_materialize(at_once, select, p, name=n, extra_env=environment, dagster_home=dagster_home)
        for n, p in zip(RUN_NAMES, partitions, strict=True)
    ]
    try:
        # The settings (the landing zone among them) are read when the lakehouse's definitions are built.
        with pytest.MonkeyPatch.context() as mp:
            for variable, value in (environment or {}).items():
                mp.setenv(variable, value)
            in_turn = make_lakehouse(f"{name}_in_turn")
            shutil.copytree(inputs / "demo_erp", in_turn.home / "demo_erp")
            for partition in partitions:
                in_turn.execute(job, partition_key=partition)
        for run in runs:
            run.wait_success()
    finally:
        for run in runs:
            run.kill()
    return Scenario(at_once, in_turn.home, time.monotonic() - began)


@pytest.fixture(scope="module")
def inventory(make_lakehouse, spark, tmp_path_factory) -> Scenario:
    """Two regions of one inventory day, landed as the regions' exports.

    Both lakehouses read the same landing folders: bronze records each file's path and modification time.
    """
    inputs = tmp_path_factory.mktemp("inventory") / "inputs"
    seed(inputs / "demo_erp", DAY, 1, SCALE, regions=list(REGIONS))
    landing_roots = {region: inputs / "landing" / region for region in REGIONS}
    for region, root in landing_roots.items():
        export_inventory(spark, inputs / "demo_erp", DAY, region, root / DAY.isoformat())
    environment = {f"LAKEHOUSE_LANDING_ROOT_{region.upper()}": str(root) for region, root in landing_roots.items()}
    partitions = [f"{DAY}|{region}" for region in REGIONS]
    return _run_at_once_and_in_turn(
        make_lakehouse, "inventory", inputs, "group:inventory", "inventory", partitions, environment
    )


@pytest.fixture(scope="module")
def sales(make_lakehouse, tmp_path_factory) -> Scenario:
    """Two days of the sales slice, bronze to gold."""
    inputs = tmp_path_factory.mktemp("sales") / "inputs"
    seed(inputs / "demo_erp", SALES_DAYS[0], (SALES_DAYS[1] - SALES_DAYS[0]).days + 1, SCALE, regions=[REGIONS[0]])
    partitions = [day.isoformat() for day in SALES_DAYS]
    return _run_at_once_and_in_turn(make_lakehouse, "sales", inputs, "group:sales", "sales_nightly", partitions)


INVENTORY_TABLES = {
    "bronze/inventory_snapshots",
    "bronze/inventory_rejected_files",
    "silver/inventory",
    "gold/inventory_position",
}
SALES_TABLES = {
    "bronze/sales_order_header",
    "bronze/sales_order_detail",
    "bronze/sales_order_deletes",
    "bronze/products",
    "bronze/sku_forecasts",
    "silver/sales_orders",
    "silver/sales_order_lines",
    "silver/sales_quarantine",
    "gold/daily_sku_sales",
    "gold/sku_forecast_alignment",
    "gold/sku_alerts",
}


def _assert_same_tables(scenario: Scenario, expected: set[str]) -> None:
    assert set(scenario.tables_in_turn) == expected
    assert set(scenario.tables_at_once) == expected
    for name in sorted(expected):
        assert scenario.tables_at_once[name] == scenario.tables_in_turn[name], (
            f"{name}: the runs at once wrote other rows"
        )


def _conflict_retries(scenario: Scenario) -> dict[str, list[int]]:
    """Table -> how often each run's write of it lost a Delta conflict, as its materialization reports."""
    retries: dict[str, list[int]] = {}
    with scenario.instance() as instance:
        for run in instance.get_runs():
            for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
                materialization = event.asset_materialization
                metadata, name = materialization.metadata, materialization.asset_key.to_user_string()
                assert CONFLICT_RETRIES in metadata, f"{name}: no {CONFLICT_RETRIES} in {sorted(metadata)}"
                retries.setdefault(name, []).append(metadata[CONFLICT_RETRIES].value)
    return retries


def _began_writing(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """When the run's step for each table yielded its first output (the write starts)."""
    first_output: dict[str, float] = {}
    for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT):
        first_output.setdefault(event.step_key, event.timestamp)
    began = {}
    for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        began[event.dagster_event.asset_key.to_user_string()] = first_output[event.step_key]
    return began


def _step_spans(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    """Step key -> when the run's step started and when it ended."""
    spans: dict[str, list[float]] = {}
    for event in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}):
        spans.setdefault(event.step_key, []).append(event.timestamp)
    return {step: (min(times), max(times)) for step, times in spans.items()}


def _raced_first_writes(scenario: Scenario) -> list[str]:
    """Tables one run began writing before the other run's commit created them."""
    with scenario.instance() as instance:
        began = {run.run_id: _began_writing(instance, run.run_id) for run in instance.get_runs()}
    raced = []
    for name in scenario.tables_at_once:
        (created,) = [c for c in DeltaTable(str(scenario.at_once / "tables" / name)).history() if c["version"] == 0]
        creator = json.loads(created["userMetadata"])["dagster_run_id"]
        if any(name in t and t[name] < created["timestamp"] / 1000 for run_id, t in began.items() if run_id != creator):
            raced.append(name)
    return raced


def test_two_regions_of_one_inventory_day_at_once_equal_the_regions_in_turn(inventory):
    _assert_same_tables(inventory, INVENTORY_TABLES)
    assert {row["_region"] for row in inventory.tables_at_once["bronze/inventory_snapshots"]} == set(REGIONS)
    print(f"inventory: {inventory.seconds:.0f} s, conflict retries per table {_conflict_retries(inventory)}")


def test_two_sales_days_at_once_equal_the_days_in_turn(sales):
    _assert_same_tables(sales, SALES_TABLES)
    assert {str(row["ForecastDate"])[:10] for row in sales.tables_at_once["bronze/sku_forecasts"]} == {
        day.isoformat() for day in SALES_DAYS
    }
    print(f"sales: {sales.seconds:.0f} s, conflict retries per table {_conflict_retries(sales)}")


def test_the_gold_steps_of_two_sales_runs_take_turns(sales):
    """Each gold step reads silver when it starts: two runs' gold steps overlapping could let the one
    that read the older silver commit last (the ``sales_gold`` pool)."""
    with sales.instance() as instance:
        first, second = (
            {step: span for step, span in _step_spans(instance, run.run_id).items() if step.startswith("gold__")}
            for run in instance.get_runs()
        )
    assert len(first) == len(second) == 3, (first, second)
    overlapping = [(a, b) for a, (a0, a1) in first.items() for b, (b0, b1) in second.items() if a0 < b1 and b0 < a1]
    assert not overlapping, f"gold steps of the two runs overlapped: {overlapping}"


def test_first_writes_racing_to_create_a_table_keep_both_partitions(inventory, sales):
    """Both lakehouses start empty: a table one run began writing before the other created it was raced for."""
    raced = [(scenario, _raced_first_writes(scenario)) for scenario in (inventory, sales)]
    print(f"first writes raced: {[tables for _, tables in raced]}")
    assert any(tables for _, tables in raced), "no run began a write before the other created the table: no race"
    for scenario, tables in raced:
        for name in tables:
            assert scenario.tables_at_once[name] == scenario.tables_in_turn[name], (
                f"{name}: a racing first write lost rows"
            )
