"""Run alerts' definitions: failed runs and failed checks recorded for planners."""

import dagster as dg

from mssql_lakehouse.defs.run_alerts.sensors import record_failed_checks, record_failed_runs
from mssql_lakehouse.settings import LakehouseSettings


def build_defs(settings: LakehouseSettings) -> dg.Definitions:
    return dg.Definitions(sensors=[record_failed_runs, record_failed_checks])
