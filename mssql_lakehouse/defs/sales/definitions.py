"""Use case 1's definitions: nightly sales snapshot, forecast alignment and SKU alerts."""

import dagster as dg

from mssql_lakehouse.defs.sales import bronze, checks, gold, silver
from mssql_lakehouse.defs.sales.jobs import sales_gold_refresh, sales_nightly
from mssql_lakehouse.defs.sales.schedules import sales_nightly_at_erp_cutoff
from mssql_lakehouse.defs.sales.sensors import sales_late_data
from mssql_lakehouse.lib.check_rules import column_schema_change_checks
from mssql_lakehouse.settings import LakehouseSettings


def build_defs(settings: LakehouseSettings) -> dg.Definitions:
    assets = dg.load_assets_from_modules([bronze, silver, gold])
    freshness = checks.freshness_checks(assets, settings.erp_timezone)
    return dg.Definitions(
        assets=assets,
        asset_checks=[*dg.load_asset_checks_from_modules([checks]), *freshness, *column_schema_change_checks(assets)],
        jobs=[sales_nightly, sales_gold_refresh],
        schedules=[sales_nightly_at_erp_cutoff(settings)],
        sensors=[sales_late_data, checks.sales_freshness_checks_sensor(freshness)],
    )
