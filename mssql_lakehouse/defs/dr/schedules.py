"""The DR replication run, on a schedule (``LAKEHOUSE_DR_CRON``, default every 30 minutes).

The schedule is the recovery point objective: a disaster loses at most the commits
made since the last pass. It starts stopped; switch it on in the UI or with
``dagster schedule start dr_replication_schedule``.
"""

import dagster as dg

from mssql_lakehouse.defs.dr.assets import DR_REPLICATION
from mssql_lakehouse.settings import LakehouseSettings

dr_replication = dg.define_asset_job(
    "dr_replication",
    selection=dg.AssetSelection.assets(DR_REPLICATION),
    description="Copy what changed in the replicated tables to the standby site, then compare the replica.",
)


def dr_replication_schedule(settings: LakehouseSettings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="dr_replication_schedule",
        job=dr_replication,
        cron_schedule=settings.dr.cron,
        execution_timezone=settings.erp_timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Keeps the DR replica within one interval of the active site.",
    )
