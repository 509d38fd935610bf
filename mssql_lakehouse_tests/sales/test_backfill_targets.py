"""What a backfill of the sales slice launched from the UI targets: the days picked, not the whole history.

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


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_defs(LakehouseSettings.from_env(), slices=["sales"])


def targets(defs: dg.Definitions, days: list[str]) -> dict[dg.AssetKey, set[str]]:
    graph = defs.resolve_asset_graph()
    sales = dg.AssetSelection.groups("sales").resolve(graph)
    with dg.instance_for_test() as instance:
        backfill = AssetBackfillData.from_asset_partitions(
            asset_graph=graph,
            partition_names=days,
            asset_selection=list(sales),
            dynamic_partitions_store=instance,
            backfill_start_timestamp=dt.datetime.now(dt.UTC).timestamp(),
            all_partitions=False,
        )
    subsets = backfill.target_subset.partitions_subsets_by_asset_key
    return {key: set(subset.get_partition_keys()) for key, subset in subsets.items()}


def test_a_backfill_of_some_days_targets_those_days_and_the_rolling_week_after(defs):
    days = ["2026-11-02", "2026-11-03"]
    week_after = {(dt.date(2026, 11, 3) + dt.timedelta(days=n)).isoformat() for n in range(1, ROLLING_DAYS)} | set(days)
    for key, keys in targets(defs, days).items():
        assert keys == (week_after if key in ROLLING else set(days)), key.to_user_string()


def test_a_backfill_that_ends_with_the_last_day_targets_one_range_for_one_run(defs):
    last = dt.date.fromisoformat(daily_partitions.get_last_partition_key())
    days = [(last - dt.timedelta(days=1)).isoformat(), last.isoformat()]
    assert {frozenset(keys) for keys in targets(defs, days).values()} == {frozenset(days)}
