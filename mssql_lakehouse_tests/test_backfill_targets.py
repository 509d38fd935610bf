"""What a backfill launched from the UI targets: the days picked, not the whole history.

The UI's Materialize dialog sends the days and the selected assets; Dagster targets those days of
the root assets and every partition downstream of them through the assets' partition mappings
(``AssetBackfillData.from_asset_partitions``, which the webserver calls). A mapping that makes one
day depend on every day of an upstream table turns a backfill of two days into all of them.
"""

import datetime as dt

import dagster as dg
import pytest
from dagster._core.execution.asset_backfill import AssetBackfillData

from mssql_lakehouse.definitions import build_defs
from mssql_lakehouse.lib.partitions import daily_partitions
from mssql_lakehouse.lib.transforms.sku_metrics import ROLLING_DAYS
from mssql_lakehouse.settings import LakehouseSettings

# The rolling 7-day figures of a day read the six days before it: a backfill also refreshes the six after.
ROLLING = {dg.AssetKey(["gold", "sku_forecast_alignment"]), dg.AssetKey(["gold", "sku_alerts"])}
DAYS = ["2026-11-02", "2026-11-03"]


@pytest.fixture(scope="module")
def graph() -> dg.Definitions:
    return build_defs(LakehouseSettings.from_env(), slices=["sales", "customer_360"]).resolve_asset_graph()


def targets(graph, selection: dg.AssetSelection, days: list[str]) -> dict[dg.AssetKey, set[str]]:
    with dg.instance_for_test() as instance:
        backfill = AssetBackfillData.from_asset_partitions(
            asset_graph=graph,
            partition_names=days,
            asset_selection=list(selection.resolve(graph)),
            dynamic_partitions_store=instance,
            backfill_start_timestamp=dt.datetime.now(dt.UTC).timestamp(),
            all_partitions=False,
        )
    subsets = backfill.target_subset.partitions_subsets_by_asset_key
    return {key: set(subset.get_partition_keys()) for key, subset in subsets.items()}


def test_a_sales_backfill_of_some_days_targets_those_days_and_the_rolling_week_after(graph):
    week_after = {(dt.date(2026, 11, 3) + dt.timedelta(days=n)).isoformat() for n in range(1, ROLLING_DAYS)}
    for key, keys in targets(graph, dg.AssetSelection.groups("sales"), DAYS).items():
        assert keys == (set(DAYS) | week_after if key in ROLLING else set(DAYS)), key.to_user_string()


@pytest.mark.parametrize(
    "root", [["bronze", "customer_changes"], ["bronze", "customer_snapshot"]], ids=lambda p: "/".join(p)
)
def test_a_customer_360_backfill_of_some_days_targets_those_days(graph, root):
    # The group itself cannot be backfilled as one range: the snapshot's days run one further
    # (end_offset=1), so a user picks a bronze table and what is downstream of it.
    for key, keys in targets(graph, dg.AssetSelection.assets(root).downstream(), DAYS).items():
        assert keys == set(DAYS), key.to_user_string()


def test_a_backfill_that_ends_with_the_last_day_targets_one_range_for_one_run(graph):
    last = dt.date.fromisoformat(daily_partitions.get_last_partition_key())
    days = [(last - dt.timedelta(days=1)).isoformat(), last.isoformat()]
    assert {frozenset(keys) for keys in targets(graph, dg.AssetSelection.groups("sales"), days).values()} == {
        frozenset(days)
    }
