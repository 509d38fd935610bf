"""Use case 3's definitions: Customer 360 from change data capture, SCD1 and SCD2."""

import dagster as dg

from mssql_lakehouse.defs.customer_360 import bronze, checks, gold, silver
from mssql_lakehouse.defs.customer_360.sensors import customer_changes_sensor
from mssql_lakehouse.settings import LakehouseSettings


def build_defs(settings: LakehouseSettings) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([bronze, silver, gold]),
        asset_checks=dg.load_asset_checks_from_modules([checks]),
        sensors=[customer_changes_sensor],
    )
