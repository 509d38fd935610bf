"""Use case 2's definitions: regional inventory from landed exports."""

import dagster as dg

from mssql_lakehouse.defs.inventory import bronze, checks, gold, silver
from mssql_lakehouse.defs.inventory.sensors import inventory, inventory_file_arrival
from mssql_lakehouse.lib.check_rules import column_schema_change_checks
from mssql_lakehouse.settings import LakehouseSettings


def build_defs(settings: LakehouseSettings) -> dg.Definitions:
    assets = dg.load_assets_from_modules([bronze, silver, gold])
    freshness = checks.freshness_checks(assets, settings.erp_timezone)
    return dg.Definitions(
        assets=assets,
        asset_checks=[*dg.load_asset_checks_from_modules([checks]), *freshness, *column_schema_change_checks(assets)],
        jobs=[inventory],
        sensors=[inventory_file_arrival, checks.inventory_freshness_checks_sensor(freshness)],
    )
