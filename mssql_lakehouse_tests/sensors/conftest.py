"""Lakehouses with every slice a sensor starts runs of, each with its own home and Dagster instance."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

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
        slices=("sales", "inventory", "customer_360"),
        also_unset=["LAKEHOUSE_INVENTORY_REGIONS"],
    ) as make:
        yield make
