"""A run over several (day, region) partitions is one rectangle: one predicate, never a partition outside the run."""

import datetime as dt

import dagster as dg
import pytest
from dagster._core.definitions.partitions.utils import TimeWindow

from mssql_lakehouse.defs.inventory.partitions import inventory_partitions
from mssql_lakehouse.lib.io.partition_predicates import multi_partition_dimensions, slice_predicate

EXPR = {"date": "_landing_date", "region": "_region"}


def test_days_by_regions_become_the_whole_window_and_the_region_list():
    keys = inventory_partitions.get_partition_keys_in_range(dg.PartitionKeyRange("2026-11-01|amer", "2026-11-03|emea"))
    date, region = multi_partition_dimensions(inventory_partitions, keys, EXPR)
    assert isinstance(date.partitions, TimeWindow)
    assert (date.partitions.start.date(), date.partitions.end.date()) == (dt.date(2026, 11, 1), dt.date(2026, 11, 4))
    assert region.partitions == ["amer", "emea"]
    assert slice_predicate([date, region], {}) == (
        "(`_landing_date` >= TIMESTAMP_NTZ'2026-11-01 00:00:00.000000'"
        " AND `_landing_date` < TIMESTAMP_NTZ'2026-11-04 00:00:00.000000')"
        " AND `_region` IN ('amer', 'emea')"
    )


@pytest.mark.parametrize(
    "keys",
    [["2026-11-01|amer", "2026-11-03|amer"], ["2026-11-01|amer", "2026-11-02|emea"]],
    ids=["days-not-consecutive", "not-every-combination"],
)
def test_a_set_that_is_not_a_rectangle_is_refused(keys):
    with pytest.raises(ValueError, match=r"consecutive|every combination"):
        multi_partition_dimensions(inventory_partitions, keys, EXPR)
