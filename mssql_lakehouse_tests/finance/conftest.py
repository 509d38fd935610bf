"""A lakehouse wired to its own demo ERP and Dagster instance, for end-to-end runs of the finance close."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from mssql_lakehouse.lib.io.delta_tables import DeltaLocation
from mssql_lakehouse_demo import seed
from mssql_lakehouse_tests.isolated_lakehouse import IsolatedLakehouse, isolated_lakehouses

SCALE = 0.01


class FinanceLakehouse(IsolatedLakehouse):
    @property
    def archive_root(self) -> Path:
        return self.home / "archive"

    def seed(self, start: dt.date, days: int) -> None:
        seed(self.demo_dir, start, days, SCALE)

    def close(self, period: str) -> dg.ExecuteInProcessResult:
        return self.execute("finance_close", partition_key=period)

    def location(self, layer: str, name: str) -> DeltaLocation:
        return DeltaLocation.for_table(layer, name, tables_root=str(self.home / "tables"), catalog=None)


@pytest.fixture(scope="module")
def make_finance_lakehouse(spark, tmp_path_factory) -> Iterator:
    with isolated_lakehouses(
        tmp_path_factory,
        spark,
        FinanceLakehouse,
        slices=("finance",),
        also_unset=(
            "LAKEHOUSE_ARCHIVE_ROOT",
            "LAKEHOUSE_FINANCE_GRANTS",
            "LAKEHOUSE_FINANCE_REVOKE_FROM",
            "LAKEHOUSE_CATALOG",
            "LAKEHOUSE_AUDIT_RETENTION_DAYS",
        ),
    ) as make:
        yield make
