"""Use case 3's definitions: Customer 360 from change data capture, SCD1 and SCD2."""

import dagster as dg

from mssql_lakehouse.defs.customer_360 import bronze, checks, gold, silver
from mssql_lakehouse.defs.customer_360.sensors import customer_360_changes, customer_changes_sensor
from mssql_lakehouse.lib.check_rules import column_schema_change_checks
from mssql_lakehouse.settings import LakehouseSettings


def build_defs(settings: LakehouseSettings) -> dg.Definitions:
    assets = dg.load_assets_from_modules([bronze, silver, gold])
    return dg.Definitions(
        assets=assets,
        asset_checks=[*dg.load_asset_checks_from_modules([checks]), *column_schema_change_checks(assets)],
        jobs=[customer_360_changes],
        sensors=[customer_changes_sensor],
    )
