"""The sales slice end to end: demo ERP -> bronze -> silver -> gold -> SKU alerts, on real Spark and Delta.

The tests share one lakehouse and run in order: a 3-day backfill, then checks of what it
landed, a re-run, and a fourth ERP day with late orders and deletes.
"""

import datetime as dt

import pytest

from mssql_lakehouse.lib.io import compilation
from mssql_lakehouse.lib.partitions import daily_partitions
from mssql_lakehouse_tests.sales import erp_oracle

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]
TABLES = [
    ("bronze", "sales_order_header"),
    ("bronze", "sales_order_detail"),
    ("bronze", "sales_order_deletes"),
    ("silver", "sales_orders"),
    ("silver", "sales_order_lines"),
    ("silver", "sales_quarantine"),
    ("gold", "daily_sku_sales"),
    ("gold", "sku_forecast_alignment"),
    ("gold", "sku_alerts"),
]


@pytest.fixture(scope="module")
def lakehouse(make_lakehouse):
    lh = make_lakehouse("sales")
    lh.seed(days=3)
    lh.backfill = lh.run(DAYS[0], DAYS[-1])
    lh.refresh_late_data()  # late orders dated before the backfill get their gold days
    return lh


def gold_sales(lh, first: dt.date, last: dt.date) -> dict:
    rows = lh.table("gold", "daily_sku_sales").where(f"order_date BETWEEN DATE'{first}' AND DATE'{last}'").collect()
    return {(r.order_date, r.sku): (r.quantity, r.net_revenue, r.order_count) for r in rows}


def test_gold_equals_an_independent_computation_from_the_erp(lakehouse):
    first, last = dt.date(2026, 11, 1), dt.date(2026, 11, 3)
    expected = erp_oracle.daily_sku_sales(lakehouse.demo_dir, first, last)
    assert expected, "the demo ERP should have sales in these days"
    assert gold_sales(lakehouse, first, last) == expected


def test_every_check_of_the_backfill_passed_except_the_quarantine_warning(lakehouse):
    failed = {
        (e.asset_key.to_user_string(), e.check_name)
        for e in lakehouse.backfill.get_asset_check_evaluations()
        if not e.passed
    }
    assert failed == {("silver/sales_quarantine", "quarantine_count")}


def test_bad_lines_are_quarantined_with_their_reason_and_kept_out_of_silver(lakehouse):
    bad = erp_oracle.bad_detail_rows(lakehouse.demo_dir)
    quarantine = lakehouse.table("silver", "sales_quarantine").collect()
    quarantined = {int(r.record_key.split("|")[1]): r.reason for r in quarantine}
    assert quarantined == bad
    assert {"null product_id", "negative quantity", "unknown SKU"} == set(quarantined.values())
    silver_ids = {r.sales_order_detail_id for r in lakehouse.table("silver", "sales_order_lines").collect()}
    assert not silver_ids & set(bad)


def test_alerts_carry_their_numbers_and_reasoned_messages(lakehouse):
    alerts = lakehouse.table("gold", "sku_alerts").collect()
    assert alerts, "the demo's forecast noise should raise some alerts"
    for alert in alerts:
        assert alert.alert_type in {"over_forecast", "under_forecast", "sudden_drop"}
        assert alert.severity in {"low", "medium", "high"}
        assert alert.sku in alert.message and str(alert.actual_qty) in alert.message


def test_rerunning_a_partition_leaves_every_table_unchanged(lakehouse):
    before = {t: lakehouse.contents(*t) for t in TABLES}
    lakehouse.run("2026-11-02")
    after = {t: lakehouse.contents(*t) for t in TABLES}
    assert before == after


def test_a_three_day_backfill_in_one_run_equals_three_single_day_runs(lakehouse, make_lakehouse):
    day_by_day = make_lakehouse("sales_day_by_day")
    day_by_day.seed(days=3)
    for day in DAYS:
        day_by_day.run(day)
        # Nightly runs in production are followed by the late-data sensor's gold refreshes.
        day_by_day.refresh_late_data()
    for layer, name in TABLES:
        if layer == "bronze":
            continue  # bronze differs only in the extraction window columns
        assert day_by_day.contents(layer, name) == lakehouse.contents(layer, name), f"{layer}/{name}"


def test_a_backfill_with_its_writes_and_checkpoints_compiled_lands_the_same_tables(
    lakehouse, make_lakehouse, monkeypatch
):
    """Large inputs run with compiled expressions under the local default tuning
    (``lib/io/compilation.py``); the demo's days are small, so here every input counts as large."""
    monkeypatch.setattr(compilation, "COMPILE_ABOVE_ROWS", -1)
    monkeypatch.setattr(compilation, "COMPILE_ABOVE_BYTES", -1)
    compiled = make_lakehouse("sales_compiled")
    compiled.seed(days=3)
    backfill = compiled.run(DAYS[0], DAYS[-1])
    compiled.refresh_late_data()

    # Every silver and gold input is sized (Delta files, checkpoints, cached frames), so every write compiled.
    interpreted = {
        event.asset_key.to_user_string()
        for event in backfill.get_asset_materialization_events()
        if not event.materialization.metadata["spark_compiled_expressions"].value
    }
    assert not {key for key in interpreted if not key.startswith("bronze/")}, interpreted
    for layer, name in TABLES:
        if layer == "bronze":
            continue  # bronze differs only in the extraction window columns
        assert compiled.contents(layer, name) == lakehouse.contents(layer, name), f"{layer}/{name}"


def test_late_orders_and_deletes_reach_gold_through_the_late_data_sensor(lakehouse):
    lakehouse.seed(days=1, start=dt.date(2026, 11, 4))
    deleted = erp_oracle.deleted_detail_ids(lakehouse.demo_dir, dt.date(2026, 11, 4))
    assert deleted, "the demo deletes some earlier lines every day"
    lakehouse.run("2026-11-04")

    silver_ids = {r.sales_order_detail_id for r in lakehouse.table("silver", "sales_order_lines").collect()}
    assert not silver_ids & deleted

    # Gold of the earlier days is stale until the sensor's runs refresh it.
    first, last = dt.date(2026, 11, 1), dt.date(2026, 11, 4)
    expected = erp_oracle.daily_sku_sales(lakehouse.demo_dir, first, last)
    assert gold_sales(lakehouse, first, last) != expected

    requests, cursor = lakehouse.refresh_late_data()
    assert requests
    assert {r.tags["lakehouse/trigger"] for r in requests} == {"late_data"}
    assert gold_sales(lakehouse, first, last) == expected

    # The cursor moved past what was handled: nothing is requested twice.
    again, _ = lakehouse.refresh_late_data(cursor)
    assert again == []


def test_a_range_reaching_past_the_last_partition_is_refused_before_anything_is_read(make_lakehouse):
    """Today is not a partition until its day is over, though the ERP already has its orders.

    Dagster gives the step the time window of the run's range as tagged, and the IO manager writes
    the range's keys that exist: the step read today's orders, and their write was refused as rows
    of the wrong business day.
    """
    last = dt.date.fromisoformat(daily_partitions.get_last_partition_key())
    past_it = last + dt.timedelta(days=2)
    lh = make_lakehouse("sales_past_the_last_partition")
    lh.seed(days=3, start=last)
    result = lh.defs.resolve_job_def("sales_nightly").execute_in_process(
        instance=lh.instance,
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": str(last), "dagster/asset_partition_range_end": str(past_it)},
    )
    assert not result.success
    failures = [e.step_key for e in result.all_events if e.is_step_failure]
    messages = " ".join(e.step_failure_data.error.message for e in result.all_events if e.is_step_failure)
    assert failures and all(step.startswith("bronze__") for step in failures)
    assert f"{past_it} is not a partition" in messages
    assert f"the last is {last}" in messages
    assert not any(e.is_step_success and e.step_key.startswith("bronze__") for e in result.all_events)
