"""The code location: assets, checks, jobs and automation, with the deployment's resources."""

import dagster as dg

from mssql_lakehouse.assets import example
from mssql_lakehouse.resources.deployment import executor_for, resources_for

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([example]),
    resources=resources_for(),
    executor=executor_for(),
)
