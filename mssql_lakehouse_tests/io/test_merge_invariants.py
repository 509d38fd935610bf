"""What a merge-mode asset's table holds after recomputes, replays and null ordering values."""

import datetime as dt
from typing import Any

import dagster as dg
from deltalake import DeltaTable as IndependentDeltaReader

DAILY = dg.DailyPartitionsDefinition(start_date="2026-11-01")
D1, D2, D3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)


def merged_asset(key: list[str], columns: str, metadata: dict[str, Any], partitioned: bool = False):
    """A merge-mode asset that writes the rows :func:`write` hands its run."""

    @dg.asset(
        key=key,
        partitions_def=DAILY if partitioned else None,
        metadata={"write_mode": "merge", **metadata},
        required_resource_keys={"spark"},
    )
    def merged(context: dg.AssetExecutionContext):
        return context.resources.spark.get_session().createDataFrame(ROWS[context.run.tags["rows"]], columns)

    return merged


ROWS: dict[str, list[tuple]] = {}


def write(asset, resources, rows: list[tuple], partition_key: str | None = None) -> dict[str, Any]:
    """Materialize ``asset`` with ``rows``; the materialization's metadata values."""
    token = str(len(ROWS))
    ROWS[token] = rows
    result = dg.materialize([asset], resources=resources, partition_key=partition_key, tags={"rows": token})
    materialization = result.asset_materializations_for_node(asset.op.name)[0]
    return {k: v.value for k, v in materialization.metadata.items()}


def user_rows(home, layer: str, table: str, *columns: str) -> list[tuple]:
    """The table as a user reads it (an independent Delta reader), sorted."""
    data = IndependentDeltaReader(str(home / "tables" / layer / table)).to_pyarrow_table()
    return sorted(zip(*(data.column(c).to_pylist() for c in columns), strict=False))


def history_asset(merge_scope: str):
    """An SCD2-like history: one row per (customer, version), each batch complete for the customers it has."""
    return merged_asset(
        ["silver", "history"],
        "customer_id int, valid_from_lsn int, valid_from date, name string",
        {
            "partition_expr": "valid_from",
            "merge_keys": ["customer_id", "valid_from_lsn"],
            "merge_replace_by": ["customer_id"],
            "merge_scope": merge_scope,
        },
        partitioned=True,
    )


def test_recomputed_history_drops_the_versions_it_no_longer_has(lakehouse_home, local_resources):
    history = history_asset("table")
    write(history, local_resources, [(1, 10, D1, "ann"), (1, 20, D2, "ann b"), (2, 15, D1, "bob")], "2026-11-02")
    # Customer 1 recomputed: the version at LSN 10 is gone, one at LSN 5 is new; customer 2 not in this batch.
    metadata = write(history, local_resources, [(1, 5, D1, "an"), (1, 20, D2, "ann b")], "2026-11-02")

    assert user_rows(lakehouse_home, "silver", "history", "customer_id", "valid_from_lsn", "name") == [
        (1, 5, "an"),
        (1, 20, "ann b"),
        (2, 15, "bob"),
    ]
    assert metadata["touched_partition_values"] == ["2026-11-01"]


def test_replace_by_with_partition_scope_replaces_the_keys_rows_of_the_partition_only(lakehouse_home, local_resources):
    history = history_asset("partition")
    write(history, local_resources, [(1, 10, D1, "ann")], "2026-11-01")
    write(history, local_resources, [(1, 20, D2, "ann b"), (1, 30, D2, "ann c"), (2, 25, D2, "bob")], "2026-11-02")
    write(history, local_resources, [(1, 30, D2, "ann c")], "2026-11-02")

    assert user_rows(lakehouse_home, "silver", "history", "customer_id", "valid_from_lsn") == [
        (1, 10),  # another partition: out of this merge's scope
        (1, 30),
        (2, 25),  # a key the batch does not mention
    ]


def test_null_ordering_values_sort_as_oldest_on_both_sides(lakehouse_home, local_resources):
    stock = merged_asset(
        ["silver", "stock"],
        "id int, snapshot_time timestamp_ntz, modified int, qty int",
        {"merge_keys": ["id"], "merge_order_by": ["snapshot_time", "modified"]},
    )
    t1, t2 = dt.datetime(2026, 11, 1, 8), dt.datetime(2026, 11, 2, 8)
    write(
        stock,
        local_resources,
        [(1, None, 1, 5), (2, t1, 1, 3), (3, t1, None, 4), (4, None, None, 6)],
    )
    write(
        stock,
        local_resources,
        [
            (1, t1, 1, 7),  # a dated row beats the undated one in the table
            (2, None, 9, 9),  # an undated row never beats a dated one
            (3, t1, 2, 8),  # same snapshot: a known modification beats none
            (4, None, None, 1),  # both undated: as new as the table's, so it applies
            (5, None, 1, 2),  # of two new rows of a key, the dated one is the latest
            (5, t2, 1, 1),
        ],
    )
    assert user_rows(lakehouse_home, "silver", "stock", "id", "qty") == [(1, 7), (2, 3), (3, 8), (4, 1), (5, 1)]


def test_a_replay_touches_nothing_and_a_change_touches_its_partition_only(lakehouse_home, local_resources):
    orders = merged_asset(
        ["silver", "orders"],
        "order_id int, order_date date, status string, row_version int, is_deleted boolean",
        {
            "partition_expr": "order_date",
            "merge_keys": ["order_id"],
            "merge_order_by": ["row_version"],
            "merge_delete_flag": "is_deleted",
            "merge_scope": "table",
        },
        partitioned=True,
    )
    # The day's batch also carries a late update of an older order and a delete of another.
    batch = [(1, D1, "shipped", 2, False), (2, D2, "new", 1, False), (3, D3, "new", 1, False), (4, D1, None, 3, True)]
    write(orders, local_resources, [(4, D1, "new", 1, False)], "2026-11-01")
    first = write(orders, local_resources, batch, "2026-11-02")
    assert first["touched_partition_values"] == ["2026-11-01", "2026-11-02", "2026-11-03"]

    replay = write(orders, local_resources, batch, "2026-11-02")
    assert replay["touched_partition_values"] == []
    assert int(replay["delta_operation_metrics"]["numTargetRowsUpdated"]) == 0

    changed = [(3, D3, "shipped", 2, False) if row[0] == 3 else row for row in batch]
    assert write(orders, local_resources, changed, "2026-11-02")["touched_partition_values"] == ["2026-11-03"]
    assert user_rows(lakehouse_home, "silver", "orders", "order_id", "status") == [
        (1, "shipped"),
        (2, "new"),
        (3, "shipped"),
    ]
