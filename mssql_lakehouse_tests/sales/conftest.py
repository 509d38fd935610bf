"""A lakehouse wired to its own demo ERP and Dagster instance, for end-to-end runs of the sales slice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import dagster as dg
import pytest

from mssql_lakehouse.defs.sales.sensors import sales_late_data
from mssql_lakehouse_demo import seed
from mssql_lakehouse_tests.isolated_lakehouse import IsolatedLakehouse, isolated_lakehouses

SCALE = 0.01
FIRST_DAY = dt.date(2026, 11, 1)


class Lakehouse(IsolatedLakehouse):
    def seed(self, days: int, start: dt.date = FIRST_DAY) -> None:
        seed(self.demo_dir, start, days, SCALE)

    def run(self, first: str, last: str | None = None, job: str = "sales_nightly") -> dg.ExecuteInProcessResult:
        if last is None:
            return self.execute(job, partition_key=first)
        return self.execute(
            job, tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
        )

    def refresh_late_data(self, cursor: str | None = None) -> tuple[list[dg.RunRequest], str | None]:
        """Evaluate the late-data sensor once and run what it requests, as the daemon would."""
        context = dg.build_sensor_context(instance=self.instance, cursor=cursor, definitions=self.defs)
        requests = [r for r in (sales_late_data(context) or []) if isinstance(r, dg.RunRequest)]
        for request in requests:
            self.run(
                request.tags["dagster/asset_partition_range_start"],
                request.tags["dagster/asset_partition_range_end"],
                job="sales_gold_refresh",
            )
        return requests, context.cursor

    def contents(self, layer: str, name: str) -> list[tuple]:
        """A table's rows, sorted, without the extraction time (the only column a re-run may change)."""
        df = self.table(layer, name)
        df = df.drop("_extracted_at") if "_extracted_at" in df.columns else df
        return sorted((tuple(r) for r in df.collect()), key=repr)


@pytest.fixture(scope="module")
def make_lakehouse(spark, tmp_path_factory, request) -> Iterator:
    """Builds lakehouses with their own LAKEHOUSE_HOME, resources and persistent Dagster instance.

    Their jobs are the slice's, plus those the test module lists in ``JOBS`` (parts of the slice
    a test runs alone).
    """
    with isolated_lakehouses(
        tmp_path_factory,
        spark,
        Lakehouse,
        slices=("sales",),
        jobs=getattr(request.module, "JOBS", ()),
    ) as make:
        yield make
