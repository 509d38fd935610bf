"""Lakehouses with every slice a sensor starts runs of, each with its own home and Dagster instance."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mssql_lakehouse.defs.customer_360 import assets as customer_360
from mssql_lakehouse.defs.inventory import bronze as inventory_bronze
from mssql_lakehouse.defs.inventory import gold as inventory_gold
from mssql_lakehouse.defs.inventory import silver as inventory_silver
from mssql_lakehouse.defs.sales import bronze as sales_bronze
from mssql_lakehouse.defs.sales import gold as sales_gold
from mssql_lakehouse.defs.sales import silver as sales_silver
from mssql_lakehouse.defs.sales.jobs import sales_gold_refresh, sales_nightly
from mssql_lakehouse.defs.inventory.sensors import inventory
from mssql_lakehouse_tests.isolated_lakehouse import IsolatedLakehouse, isolated_lakehouses


@contextmanager
def unusable(folder: Path) -> Iterator[None]:
    """For the duration, a file stands where ``folder`` is: every read and write under it fails."""
    aside = folder.with_name(f"{folder.name}.aside")
    existed = folder.exists()
    if existed:
        folder.rename(aside)
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("not a folder")
    try:
        yield
    finally:
        folder.unlink()
        if existed:
            aside.rename(folder)
        elif aside.exists():
            shutil.rmtree(aside)


@pytest.fixture(scope="module")
def make_lakehouse(spark, tmp_path_factory) -> Iterator:
    with isolated_lakehouses(
        tmp_path_factory,
        spark,
        IsolatedLakehouse,
        asset_modules=[
            sales_bronze, sales_silver, sales_gold,
            inventory_bronze, inventory_silver, inventory_gold,
            customer_360,
        ],
        jobs=[sales_nightly, sales_gold_refresh, inventory],
        also_unset=["LAKEHOUSE_INVENTORY_REGIONS"],
    ) as make:
        yield make
