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
from mssql_lakehouse.finance.settings import finance_resources
from mssql_lakehouse.io.delta_tables import DeltaLocation
from mssql_lakehouse.resources.deployment import executor_for, resources_for
from mssql_lakehouse.schedules.finance import finance_close_job
from mssql_lakehouse.settings import Deployment

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
    created = []
    with pytest.MonkeyPatch.context() as mp:

        def make(name: str) -> FinanceLakehouse:
            home = tmp_path_factory.mktemp(name)
            mp.setenv("LAKEHOUSE_HOME", str(home))
            for var in ("LAKEHOUSE_TABLES_ROOT", "LAKEHOUSE_DEMO_ERP_DIR", "MSSQL_SERVER", "LAKEHOUSE_ARCHIVE_ROOT",
                        "LAKEHOUSE_FINANCE_GRANTS", "LAKEHOUSE_FINANCE_REVOKE_FROM", "LAKEHOUSE_CATALOG",
                        "LAKEHOUSE_AUDIT_RETENTION_DAYS"):
                mp.delenv(var, raising=False)
            defs = dg.Definitions(
                assets=dg.load_assets_from_modules([bronze, silver, gold]),
                jobs=[finance_close_job],
                resources={**resources_for(Deployment.LOCAL), **finance_resources(Deployment.LOCAL)},
                executor=executor_for(Deployment.LOCAL),
            )
            (home / "dagster_home").mkdir()
            instance = dg.DagsterInstance.local_temp(str(home / "dagster_home"))
            created.append(instance)
            return FinanceLakehouse(home, defs, instance, spark)

        yield make
    for instance in created:
        instance.dispose()
