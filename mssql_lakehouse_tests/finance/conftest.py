"""A lakehouse wired to its own demo ERP and Dagster instance, for end-to-end runs of the finance close."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import DataFrame, SparkSession

from mssql_lakehouse.assets.finance import bronze, gold, silver
from mssql_lakehouse.demo_erp import seed
from mssql_lakehouse.io.delta_tables import DeltaLocation
from mssql_lakehouse.schedules.finance import finance_close_job
from mssql_lakehouse_tests.isolated_lakehouse import isolated_lakehouses

SCALE = 0.01


@dataclass
class FinanceLakehouse:
    home: Path
    defs: dg.Definitions
    instance: dg.DagsterInstance
    spark: SparkSession

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo_erp"

    @property
    def archive_root(self) -> Path:
        return self.home / "archive"

    def seed(self, start: dt.date, days: int) -> None:
        seed(self.demo_dir, start, days, SCALE)

    def close(self, period: str) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_job_def("finance_close")
        result = job.execute_in_process(instance=self.instance, partition_key=period, raise_on_error=False)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        return result

    def path(self, layer: str, name: str) -> str:
        return str(self.home / "tables" / layer / name)

    def location(self, layer: str, name: str) -> DeltaLocation:
        return DeltaLocation.for_table(layer, name, tables_root=str(self.home / "tables"), catalog=None)

    def table(self, layer: str, name: str, version: int | None = None) -> DataFrame:
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.path(layer, name))


@pytest.fixture(scope="module")
def make_finance_lakehouse(spark, tmp_path_factory) -> Iterator:
    with isolated_lakehouses(
        tmp_path_factory,
        lambda home, defs, instance: FinanceLakehouse(home, defs, instance, spark),
        asset_modules=[bronze, silver, gold],
        jobs=[finance_close_job],
        also_unset=("LAKEHOUSE_ARCHIVE_ROOT", "LAKEHOUSE_FINANCE_GRANTS", "LAKEHOUSE_FINANCE_REVOKE_FROM",
                    "LAKEHOUSE_CATALOG", "LAKEHOUSE_AUDIT_RETENTION_DAYS"),
    ) as make:
        yield make
