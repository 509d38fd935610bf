"""Disaster recovery's definitions: the replica of the lakehouse at the standby site."""

import dagster as dg

from mssql_lakehouse.defs.dr import assets, checks
from mssql_lakehouse.defs.dr.schedules import dr_replication, dr_replication_schedule
from mssql_lakehouse.settings import LakehouseSettings


def build_defs(settings: LakehouseSettings) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([assets]),
        asset_checks=dg.load_asset_checks_from_modules([checks]),
        jobs=[dr_replication],
        schedules=[dr_replication_schedule(settings)],
    )
