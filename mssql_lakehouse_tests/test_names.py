"""The Python name of every asset, check, job, schedule and sensor is the name a user sees in Dagster.

A reader who finds ``sales_late_data`` in the UI finds ``sales_late_data`` in the code: the module
attribute that holds a definition is named like it, and a definition built by a function (one that
needs the settings) is built by a function of that name.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from types import ModuleType

import dagster as dg
import pytest

# What ``dg.define_asset_job`` returns; Dagster does not export the type.
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

import mssql_lakehouse.defs
from mssql_lakehouse.definitions import build_defs
from mssql_lakehouse.settings import LakehouseSettings

DEFINITION_TYPES = (
    dg.AssetsDefinition,
    dg.AssetChecksDefinition,
    dg.JobDefinition,
    UnresolvedAssetJobDefinition,
    dg.ScheduleDefinition,
    dg.SensorDefinition,
)

# Checks built by Dagster's factories (freshness, column-schema change): the factory names the op
# after a hash of its check keys; the checks a user sees are Dagster's own ``freshness_check`` and
# ``column_schema_change``, and the module attribute holds a list of them, not one definition.
FACTORY_OP_PREFIXES = ("freshness_check_", "asset_check_")


def defs_modules() -> Iterator[ModuleType]:
    package = mssql_lakehouse.defs
    yield package
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        yield importlib.import_module(info.name)


def dagster_name(definition: object) -> str:
    """The name a user sees: a single asset's table, a multi-asset's op, a lone check's name, a
    multi-check's op, a job's, schedule's or sensor's name."""
    if isinstance(definition, dg.AssetChecksDefinition):
        specs = list(definition.check_specs)
        return specs[0].name if len(specs) == 1 else definition.node_def.name
    if isinstance(definition, dg.AssetsDefinition):
        return definition.key.path[-1] if len(definition.keys) == 1 else definition.node_def.name
    return definition.name


def module_definitions() -> list[tuple[str, str, object]]:
    found = []
    for module in defs_modules():
        for attribute, value in vars(module).items():
            if isinstance(value, DEFINITION_TYPES):
                found.append((module.__name__, attribute, value))
    return found


def test_module_attributes_are_named_like_their_definitions():
    mismatched = [
        f"{module}.{attribute} is {dagster_name(value)!r}"
        for module, attribute, value in module_definitions()
        if attribute != dagster_name(value)
    ]
    assert not mismatched, mismatched


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_defs(LakehouseSettings.from_env())


def test_every_definition_of_the_code_location_is_found_by_its_name(defs: dg.Definitions):
    """What ``build_defs`` returns is held by a module attribute of its name, or built by a function of its name."""
    attributes = {attribute for module in defs_modules() for attribute in vars(module)}
    definitions = [*defs.assets, *defs.asset_checks, *defs.jobs, *defs.schedules, *defs.sensors]
    unnamed = [
        dagster_name(d)
        for d in definitions
        if dagster_name(d) not in attributes
        and not (isinstance(d, dg.AssetChecksDefinition) and d.node_def.name.startswith(FACTORY_OP_PREFIXES))
    ]
    assert not unnamed, unnamed


def test_the_runs_of_every_schedule_and_sensor_belong_to_a_named_job(defs: dg.Definitions):
    """The Runs page shows a job a user can find and filter by, not ``__anonymous_asset_job_...``."""
    jobs = {schedule.name: [schedule.job_name] for schedule in defs.schedules}
    jobs |= {sensor.name: [target.job_name for target in sensor.targets] for sensor in defs.sensors}
    anonymous = [f"{name} runs {job}" for name, names in jobs.items() for job in names if job.startswith("__")]
    assert not anonymous, anonymous
