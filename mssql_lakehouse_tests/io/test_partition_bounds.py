"""A partitioned write refuses rows outside its partitions, on the table's first write as on a replay."""

import datetime as dt

import dagster as dg
import pytest

DAILY = dg.DailyPartitionsDefinition(start_date="2026-11-01")


def spilling_asset(metadata: dict):
    """Writes its day's row, and on 2026-11-01 also a row of the next day (a source-clock mismatch)."""

    @dg.asset(
        key=["bronze", "events"],
        partitions_def=DAILY,
        metadata={"partition_expr": "event_date", **metadata},
        required_resource_keys={"spark"},
    )
    def events(context: dg.AssetExecutionContext):
        day = context.partition_time_window.start.date()
        rows = [(day, 1)] + ([(dt.date(2026, 11, 2), 2)] if day == dt.date(2026, 11, 1) else [])
        return context.resources.spark.get_session().createDataFrame(rows, "event_date date, id int")

    return events


OUTSIDE = r"bronze\.events.*event_date in \[2026-11-01T00:00:00\+00:00, 2026-11-02T00:00:00\+00:00\).*2026-11-02"


@pytest.mark.parametrize(
    "metadata",
    [{}, {"write_mode": "merge", "merge_keys": ["id"]}],
    ids=["overwrite", "merge"],
)
def test_first_write_and_replay_refuse_rows_of_other_days_alike(lakehouse_home, local_resources, metadata):
    events = spilling_asset(metadata)
    table = lakehouse_home / "tables" / "bronze" / "events"

    with pytest.raises(ValueError, match=OUTSIDE):
        dg.materialize([events], resources=local_resources, partition_key="2026-11-01")
    assert not (table / "_delta_log").exists()

    dg.materialize([events], resources=local_resources, partition_key="2026-11-03")
    with pytest.raises(ValueError, match=OUTSIDE):
        dg.materialize([events], resources=local_resources, partition_key="2026-11-01")
