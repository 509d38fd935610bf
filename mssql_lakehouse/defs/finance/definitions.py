"""Use case 4's definitions: the monthly financial close."""

import dagster as dg

from mssql_lakehouse.defs.finance import bronze, checks, gold, silver
from mssql_lakehouse.defs.finance.schedules import finance_close, finance_close_after_month_end
from mssql_lakehouse.lib.check_rules import column_schema_change_checks
from mssql_lakehouse.settings import LakehouseSettings


def build_defs(settings: LakehouseSettings) -> dg.Definitions:
    assets = dg.load_assets_from_modules([bronze, silver, gold])
    freshness = checks.freshness_checks(assets, settings.erp_timezone, settings.finance.close_business_day)
    return dg.Definitions(
        assets=assets,
        asset_checks=[*dg.load_asset_checks_from_modules([checks]), *freshness, *column_schema_change_checks(assets)],
        jobs=[finance_close],
        schedules=[finance_close_after_month_end(settings)],
        sensors=[checks.finance_freshness_checks_sensor(freshness)],
    )
