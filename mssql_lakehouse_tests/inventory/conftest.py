"""Lakehouses with their own demo ERP, landing zone and Dagster instance, for end-to-end inventory runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from mssql_lakehouse_demo import inventory_path, seed
from mssql_lakehouse_demo.inventory_export import export_inventory
from mssql_lakehouse_tests.isolated_lakehouse import IsolatedLakehouse, isolated_lakehouses

SCALE = 0.01
REGIONS = ["amer", "emea"]
FIRST_DAY = dt.date(2026, 11, 1)
TABLES = [
    ("bronze", "inventory_snapshots"),
    ("bronze", "inventory_rejected_files"),
    ("silver", "inventory"),
    ("gold", "inventory_position"),
]


def key(day: dt.date | str, region: str) -> str:
    return f"{day}|{region}"


class Lakehouse(IsolatedLakehouse):
    def landing(self, region: str, day: dt.date) -> Path:
        return self.home / "landing" / "inventory" / region / day.isoformat()

    def seed(self, days: int, start: dt.date = FIRST_DAY) -> None:
        seed(self.demo_dir, start, days, SCALE, regions=REGIONS)

    def export(self, day: dt.date, region: str, fmt: str = "parquet") -> Path:
        return export_inventory(self.spark, self.demo_dir, day, region, self.landing(region, day), fmt)

    def run(self, first: str, last: str | None = None) -> dg.ExecuteInProcessResult:
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first}
        return self.execute("inventory", tags=tags)

    def contents(self, layer: str, name: str) -> list[tuple]:
        return sorted((tuple(r) for r in self.table(layer, name).collect()), key=repr)

    def on_hand(self, region: str | None = None) -> dict[tuple, int]:
        rows = self.table("silver", "inventory").collect()
        live = [r for r in rows if region in (None, r.region) and not r.is_removed]
        return {(r.region, r.product_id, r.location_id): r.quantity for r in live}


def erp_on_hand(demo_dir: Path, region: str, day: dt.date) -> dict[tuple, int]:
    """(region, product, location) -> quantity at the end of ``day``, straight from the temporal table."""
    end = dt.datetime.combine(day, dt.time.max)
    with duckdb.connect(str(inventory_path(demo_dir, region)), read_only=True) as con:
        rows = con.execute(
            'SELECT "ProductID", "LocationID", "Quantity" FROM ('
            ' SELECT * FROM "Production"."ProductInventory"'
            ' UNION ALL SELECT * FROM "Production"."ProductInventoryHistory")'
            ' WHERE "ValidFrom" <= ? AND "ValidTo" > ?',
            [end, end],
        ).fetchall()
    return {(region, product, location): qty for product, location, qty in rows}


@pytest.fixture(scope="module")
def make_lakehouse(spark, tmp_path_factory) -> Iterator:
    """Builds lakehouses with their own LAKEHOUSE_HOME, resources and persistent Dagster instance."""
    with isolated_lakehouses(
        tmp_path_factory,
        spark,
        Lakehouse,
        slices=("inventory",),
    ) as make:
        yield make
