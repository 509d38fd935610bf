"""A full snapshot AS OF a time returns the temporal table's state at that time."""

from __future__ import annotations

import datetime as dt

import duckdb

from mssql_lakehouse.lib.sources import MssqlSource, TableSource
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_demo import inventory_path

INVENTORY = TableSource("Production", "ProductInventory", key_columns=("ProductID", "LocationID"))


def _versions(path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            'SELECT "ProductID", "LocationID", "Quantity", "ValidFrom", "ValidTo" FROM "Production"."ProductInventory" '
            'UNION ALL SELECT "ProductID", "LocationID", "Quantity", "ValidFrom", "ValidTo" '
            'FROM "Production"."ProductInventoryHistory"'
        ).fetchall()


def _state_at(versions: list[tuple], at: dt.datetime) -> dict[tuple, int]:
    """The latest version of each key that had started by ``at`` and not been deleted."""
    latest: dict[tuple, tuple] = {}
    for product, location, qty, valid_from, valid_to in versions:
        if valid_from <= at and (
            latest.get((product, location)) is None or valid_from > latest[(product, location)][1]
        ):
            latest[(product, location)] = (qty, valid_from, valid_to)
    return {k: qty for k, (qty, _, valid_to) in latest.items() if valid_to > at}


def test_as_of_returns_the_state_at_that_time(spark, seeded_demo):
    path = inventory_path(seeded_demo, "amer")
    source = MssqlSource.demo(path, LakehouseSettings())
    versions = _versions(path)
    at = dt.datetime(2024, 3, 2, 12, 0, tzinfo=dt.UTC)

    df = source.extract(spark, INVENTORY, as_of=at).df
    got = {(r["ProductID"], r["LocationID"]): r["Quantity"] for r in df.collect()}

    expected = _state_at(versions, at.replace(tzinfo=None))
    assert got == expected and df.count() == len(expected)
    # Day 2 changed some quantities after noon: the current table differs from the state at noon.
    now = {(r["ProductID"], r["LocationID"]): r["Quantity"] for r in source.extract(spark, INVENTORY).df.collect()}
    assert now != got and set(now) == set(got)


def test_as_of_before_the_first_version_is_empty(spark, seeded_demo):
    source = MssqlSource.demo(inventory_path(seeded_demo, "amer"), LakehouseSettings())
    assert source.extract(spark, INVENTORY, as_of=dt.datetime(2024, 2, 1)).df.count() == 0
