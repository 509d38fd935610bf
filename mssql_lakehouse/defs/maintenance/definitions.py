"""Maintenance's definitions: VACUUM of every table on a schedule."""

import dagster as dg

from mssql_lakehouse.defs.maintenance.jobs import lakehouse_maintenance, lakehouse_maintenance_schedule
from mssql_lakehouse.settings import LakehouseSettings


def build_defs(settings: LakehouseSettings) -> dg.Definitions:
    return dg.Definitions(jobs=[lakehouse_maintenance], schedules=[lakehouse_maintenance_schedule(settings)])
