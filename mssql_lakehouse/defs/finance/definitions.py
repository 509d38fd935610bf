"""Use case 4's definitions: the monthly financial close."""

import dagster as dg

from mssql_lakehouse.defs.finance import bronze, checks, gold, silver
from mssql_lakehouse.defs.finance.schedules import finance_close, finance_close_after_month_end
from mssql_lakehouse.settings import LakehouseSettings


def build_defs(settings: LakehouseSettings) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([bronze, silver, gold]),
        asset_checks=dg.load_asset_checks_from_modules([checks]),
        jobs=[finance_close],
        schedules=[finance_close_after_month_end(settings)],
    )
