"""The automation-condition sensor: declared in code, running by default, aimed at the assets that
have a condition, and quiet unless an upstream table changed since it last looked."""

import dagster as dg
import pytest

from mssql_lakehouse.definitions import build_defs
from mssql_lakehouse.defs.automation import automation_condition_sensor
from mssql_lakehouse.settings import LakehouseSettings

CUSTOMER_360 = dg.AssetKey(["gold", "customer_360"])
HISTORY = dg.AssetKey(["silver", "customers_history"])  # the table the profile is built from
DAY = "2026-11-30"


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_defs(LakehouseSettings.from_env())


def test_it_runs_by_default_and_targets_the_assets_with_a_condition(defs):
    sensor = automation_condition_sensor(defs.assets)
    assert sensor.name == "automation_condition_sensor"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.asset_selection.resolve(defs.resolve_asset_graph()) == {CUSTOMER_360}


def test_it_requests_the_profile_once_per_upstream_change_and_never_for_history(defs):
    selection = automation_condition_sensor(defs.assets).asset_selection
    with dg.instance_for_test() as instance:
        # A day written before the sensor first looks is history: switching it on replays nothing.
        instance.report_runless_asset_event(dg.AssetMaterialization(HISTORY, partition=DAY))
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
        assert first.total_requested == 0

        instance.report_runless_asset_event(dg.AssetMaterialization(HISTORY, partition=DAY))
        changed = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=first.cursor
        )
        assert changed.total_requested == 1
        assert changed.get_num_requested(CUSTOMER_360) == 1

        again = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=changed.cursor
        )
        assert again.total_requested == 0


SALES_ORDERS = dg.AssetKey(["silver", "sales_orders"])


def test_a_sales_day_requests_no_profile_until_the_customer_history_has_that_day(defs):
    # A lakehouse that runs the sales slice before (or without) Customer 360: the profile of a day
    # is built from that day's history; without it the run could only fail.
    selection = automation_condition_sensor(defs.assets).asset_selection
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
        instance.report_runless_asset_event(dg.AssetMaterialization(SALES_ORDERS, partition=DAY))
        sales_only = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=first.cursor
        )
        assert sales_only.total_requested == 0

        instance.report_runless_asset_event(dg.AssetMaterialization(HISTORY, partition=DAY))
        with_history = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=sales_only.cursor
        )
        assert with_history.get_requested_partitions(CUSTOMER_360) == {DAY}
