"""Isolated lakehouses for end-to-end tests: each with its own LAKEHOUSE_HOME (demo ERP, landing zone,
tables), the code location ``build_defs`` builds from the settings of that environment (the local
deployment) and a persistent Dagster instance of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import pytest
from pyspark.sql import DataFrame, SparkSession

from mssql_lakehouse.definitions import build_defs
from mssql_lakehouse.settings import LakehouseSettings

# Settings a developer's shell may hold that would point a test lakehouse somewhere else.
LOCAL_OVERRIDES = (
    "LAKEHOUSE_DEPLOYMENT",
    "LAKEHOUSE_TABLES_ROOT",
    "LAKEHOUSE_DEMO_ERP_DIR",
    "LAKEHOUSE_ACTIVE_SITE",
    "MSSQL_SERVER",
)


@dataclass
class IsolatedLakehouse:
    """What every use case's test lakehouse has; each slice's conftest adds its own verbs."""

    home: Path
    defs: dg.Definitions
    instance: dg.DagsterInstance
    spark: SparkSession

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo_erp"

    def path(self, layer: str, name: str) -> str:
        return str(self.home / "tables" / layer / name)

    def table(self, layer: str, name: str, version: int | None = None) -> DataFrame:
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.path(layer, name))

    def execute(self, job: str, **kwargs: Any) -> dg.ExecuteInProcessResult:
        """Run a job of the lakehouse's definitions in its instance; the run must succeed."""
        result = self.defs.resolve_job_def(job).execute_in_process(
            instance=self.instance, raise_on_error=False, **kwargs
        )
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        return result


L = TypeVar("L", bound=IsolatedLakehouse)


@contextmanager
def isolated_lakehouses(
    tmp_path_factory: pytest.TempPathFactory,
    spark: SparkSession,
    kind: type[L],
    *,
    slices: Sequence[str],
    jobs: Sequence[dg.JobDefinition | dg.UnresolvedAssetJobDefinition] = (),
    also_unset: Sequence[str] = (),
) -> Iterator[Callable[[str], L]]:
    """Yields ``make(name)``, which returns a new ``kind`` lakehouse of the code location's ``slices``
    (``defs/<slice>/``), plus ``jobs`` (parts of a slice a test runs alone).

    The environment ``make`` sets lasts until the block ends; then the instances are closed.
    """
    created: list[dg.DagsterInstance] = []
    with pytest.MonkeyPatch.context() as mp:

        def make(name: str) -> L:
            home = tmp_path_factory.mktemp(name)
            mp.setenv("LAKEHOUSE_HOME", str(home))
            for variable in (*LOCAL_OVERRIDES, *also_unset):
                mp.delenv(variable, raising=False)
            defs = dg.Definitions.merge(
                build_defs(LakehouseSettings.from_env(), slices=slices), dg.Definitions(jobs=list(jobs))
            )
            (home / "dagster_home").mkdir()
            instance = dg.DagsterInstance.local_temp(str(home / "dagster_home"))
            created.append(instance)
            return kind(home, defs, instance, spark)

        yield make
    for instance in created:
        instance.dispose()
