"""The gold tables' freshness checks, evaluated at fixed times against the Dagster instance's records.

A freshness check reads only the instance: whether the partition due by the last deadline has a
materialization. The tests record those materializations directly and freeze Dagster's clock.
"""

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

# Dagster's freshness checks and sensors read the time through dagster._time, which this freezes.
from dagster._core.test_utils import create_run_for_test, freeze_time

from mssql_lakehouse.defs.finance import checks as finance_checks
from mssql_lakehouse.defs.finance import gold as finance_gold
from mssql_lakehouse.defs.inventory import checks as inventory_checks
from mssql_lakehouse.defs.inventory import gold as inventory_gold
from mssql_lakehouse.defs.sales import checks as sales_checks
from mssql_lakehouse.defs.sales import gold as sales_gold

SALES_GOLD = dg.load_assets_from_modules([sales_gold])
FINANCE_GOLD = dg.load_assets_from_modules([finance_gold])
INVENTORY_GOLD = dg.load_assets_from_modules([inventory_gold])
# Checks and partitions must cut the day in the same zone: both take the business day's.
ZONE = SALES_GOLD[0].partitions_def.timezone


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZoneInfo(ZONE))


def materialized(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None, when: dt.datetime) -> None:
    with freeze_time(when):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=partition))


def evaluate(
    instance: dg.DagsterInstance,
    assets: Sequence[dg.AssetsDefinition],
    checks: Sequence[dg.AssetChecksDefinition],
    when: dt.datetime,
) -> dict[str, dg.AssetCheckEvaluation]:
    """Run the checks alone, at ``when``; the assets are there only for their partitions."""
    specs = [spec for asset in assets for spec in asset.specs]
    with freeze_time(when):
        result = dg.materialize([*specs, *checks], selection=dg.AssetSelection.checks(*checks), instance=instance)
    return {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_sales_gold_is_fresh_once_the_day_that_ended_is_written(instance):
    checks = sales_checks.freshness_checks(SALES_GOLD, ZONE)
    for asset in SALES_GOLD:
        materialized(instance, asset.key, "2026-11-30", at(2026, 12, 1, 2, 20))
    results = evaluate(instance, SALES_GOLD, checks, at(2026, 12, 1, 7))
    assert sorted(results) == ["gold/daily_sku_sales", "gold/sku_alerts", "gold/sku_forecast_alignment"]
    assert all(r.passed for r in results.values()), {k: r.description for k, r in results.items()}


def test_sales_gold_is_overdue_when_the_day_is_missing_past_the_deadline(instance):
    checks = sales_checks.freshness_checks(SALES_GOLD, ZONE)
    materialized(instance, sales_gold.ALERTS, "2026-11-29", at(2026, 11, 30, 2, 20))
    before_deadline = evaluate(instance, SALES_GOLD, checks, at(2026, 12, 1, 5, 59))
    assert before_deadline["gold/sku_alerts"].passed  # 2026-11-30 is not due before 06:00
    after_deadline = evaluate(instance, SALES_GOLD, checks, at(2026, 12, 1, 6, 1))
    overdue = after_deadline["gold/sku_alerts"]
    assert not overdue.passed
    assert overdue.severity == dg.AssetCheckSeverity.WARN  # Dagster's default: a late table, not wrong data
    assert "We expected partition 2026-11-30 to have arrived" in overdue.description


def test_the_close_is_due_after_its_business_day(instance):
    # The 3rd business day of December 2026 is Thursday the 3rd; the deadline is noon on the 6th,
    # after the latest day a 3rd business day can fall on (the 5th, when a month starts on a Saturday).
    checks = finance_checks.freshness_checks(FINANCE_GOLD, ZONE, close_business_day=3)
    materialized(instance, finance_gold.FINANCIAL_CLOSE, "2026-10", at(2026, 11, 4, 6, 30))
    assert evaluate(instance, FINANCE_GOLD, checks, at(2026, 12, 6, 11))["gold/financial_close"].passed
    overdue = evaluate(instance, FINANCE_GOLD, checks, at(2026, 12, 6, 13))["gold/financial_close"]
    assert not overdue.passed
    assert "2026-11" in overdue.description
    materialized(instance, finance_gold.FINANCIAL_CLOSE, "2026-11", at(2026, 12, 6, 14))
    assert evaluate(instance, FINANCE_GOLD, checks, at(2026, 12, 6, 15))["gold/financial_close"].passed


def test_the_inventory_position_is_fresh_while_a_region_was_written_in_the_day_before_the_deadline(instance):
    checks = inventory_checks.freshness_checks(INVENTORY_GOLD, ZONE)
    materialized(instance, inventory_gold.POSITION, "2026-11-30|amer", at(2026, 11, 30, 20))
    assert evaluate(instance, INVENTORY_GOLD, checks, at(2026, 12, 1, 7))["gold/inventory_position"].passed
    overdue = evaluate(instance, INVENTORY_GOLD, checks, at(2026, 12, 2, 7))["gold/inventory_position"]
    assert not overdue.passed


def test_the_freshness_sensor_requests_the_checks_that_may_be_overdue(instance):
    checks = sales_checks.freshness_checks(SALES_GOLD, ZONE)
    sensor = sales_checks.sales_freshness_checks_sensor(checks)
    assert sensor.name == "sales_freshness_checks_sensor"
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    defs = dg.Definitions(assets=[s for a in SALES_GOLD for s in a.specs], asset_checks=checks, sensors=[sensor])
    with freeze_time(at(2026, 12, 1, 7)):
        context = dg.build_sensor_context(instance=instance, definitions=defs, sensor_name=sensor.name)
        [request] = sensor.evaluate_tick(context).run_requests
    assert {k.asset_key.to_user_string() for k in request.asset_check_keys} == {
        "gold/daily_sku_sales",
        "gold/sku_alerts",
        "gold/sku_forecast_alignment",
    }


def test_the_freshness_sensor_waits_for_the_evaluation_it_requested_until_that_run_finishes(instance):
    # The daemon's queue holds a requested run while others run (max_concurrent_runs), then starts it.
    # Until it executes the check there is no check execution, so Dagster's freshness sensor would
    # request the same checks every tick. (A QUEUED run needs a code location's origin; STARTING is
    # the same state for the sensor.)
    checks = inventory_checks.freshness_checks(INVENTORY_GOLD, ZONE)
    sensor = inventory_checks.inventory_freshness_checks_sensor(checks)
    defs = dg.Definitions(assets=[s for a in INVENTORY_GOLD for s in a.specs], asset_checks=checks, sensors=[sensor])

    def tick() -> list[dg.RunRequest]:
        context = dg.build_sensor_context(instance=instance, definitions=defs, sensor_name=sensor.name)
        return list(sensor.evaluate_tick(context).run_requests)

    with freeze_time(at(2026, 12, 1, 7)):
        [first] = tick()
        create_run_for_test(
            instance,
            job_name="__ASSET_JOB",
            status=dg.DagsterRunStatus.STARTING,
            tags={**first.tags, "dagster/sensor_name": sensor.name},
        )
        assert tick() == []
