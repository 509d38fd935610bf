"""Use case 2's definitions: regional inventory from landed exports."""

import dagster as dg

from mssql_lakehouse.defs.inventory import bronze, checks, gold, silver
from mssql_lakehouse.defs.inventory.sensors import inventory, inventory_file_arrival
from mssql_lakehouse.settings import LakehouseSettings


def build_defs(settings: LakehouseSettings) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([bronze, silver, gold]),
        asset_checks=dg.load_asset_checks_from_modules([checks]),
        jobs=[inventory],
        sensors=[inventory_file_arrival],
    )
