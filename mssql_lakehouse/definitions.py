"""The code location: assets, checks, jobs and automation, with the deployment's resources."""

import dagster as dg

from mssql_lakehouse.assets.sales import bronze as sales_bronze
from mssql_lakehouse.assets.sales import gold as sales_gold
from mssql_lakehouse.assets.sales import silver as sales_silver
from mssql_lakehouse.checks import sales as sales_checks
from mssql_lakehouse.resources.deployment import executor_for, resources_for

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([sales_bronze, sales_silver, sales_gold]),
    asset_checks=dg.load_asset_checks_from_modules([sales_checks]),
    resources=resources_for(),
    executor=executor_for(),
)
