"""Isolated lakehouses for end-to-end tests: each with its own LAKEHOUSE_HOME (demo ERP, landing zone,
tables), the local deployment's resources and a persistent Dagster instance of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import dagster as dg
import pytest

from mssql_lakehouse.resources.deployment import executor_for, resources_for
from mssql_lakehouse.settings import Deployment

# Settings a developer's shell may hold that would point a test lakehouse somewhere else.
LOCAL_OVERRIDES = ("LAKEHOUSE_TABLES_ROOT", "LAKEHOUSE_DEMO_ERP_DIR", "LAKEHOUSE_ACTIVE_SITE", "MSSQL_SERVER")

L = TypeVar("L")


@contextmanager
def isolated_lakehouses(
    tmp_path_factory: pytest.TempPathFactory,
    build: Callable[[Path, dg.Definitions, dg.DagsterInstance], L],
    *,
    asset_modules: Sequence[ModuleType],
    check_modules: Sequence[ModuleType] = (),
    jobs: Sequence[dg.JobDefinition | dg.UnresolvedAssetJobDefinition] = (),
    also_unset: Sequence[str] = (),
) -> Iterator[Callable[[str], L]]:
    """Yields ``make(name)``, which returns ``build(home, defs, instance)``.

    The environment ``make`` sets lasts until the block ends; then the instances are closed.
    """
    created: list[dg.DagsterInstance] = []
    with pytest.MonkeyPatch.context() as mp:

        def make(name: str) -> L:
            home = tmp_path_factory.mktemp(name)
            mp.setenv("LAKEHOUSE_HOME", str(home))
            for variable in (*LOCAL_OVERRIDES, *also_unset):
                mp.delenv(variable, raising=False)
            defs = dg.Definitions(
                assets=dg.load_assets_from_modules(list(asset_modules)),
                asset_checks=dg.load_asset_checks_from_modules(list(check_modules)),
                jobs=list(jobs),
                resources=resources_for(Deployment.LOCAL),
                executor=executor_for(Deployment.LOCAL),
            )
            (home / "dagster_home").mkdir()
            instance = dg.DagsterInstance.local_temp(str(home / "dagster_home"))
            created.append(instance)
            return build(home, defs, instance)

        yield make
    for instance in created:
        instance.dispose()
