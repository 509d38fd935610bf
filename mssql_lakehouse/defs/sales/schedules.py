"""The nightly sales run, at the ERP's cut-off in the ERP's time zone."""

import dagster as dg

from mssql_lakehouse.defs.sales.jobs import sales_nightly
from mssql_lakehouse.lib.partitions import daily_partitions
from mssql_lakehouse.settings import LakehouseSettings


def sales_nightly_at_erp_cutoff(settings: LakehouseSettings) -> dg.ScheduleDefinition:
    """Runs after the ERP's cut-off (``LAKEHOUSE_SALES_CUTOFF_CRON``, default 02:00) for the day that ended."""

    @dg.schedule(
        name="sales_nightly_at_erp_cutoff",
        job=sales_nightly,
        cron_schedule=settings.sales.cutoff_cron,
        execution_timezone=settings.erp_timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        ended = daily_partitions.get_prev_partition_window(context.scheduled_execution_time)
        if ended is None:
            return dg.SkipReason("No complete ERP day yet since the partitions start")
        day = daily_partitions.get_partition_key_for_timestamp(ended.start.timestamp())
        # The run key makes a re-evaluated tick for the same day a no-op.
        return dg.RunRequest(run_key=f"sales-nightly-{day}", partition_key=day)

    return _schedule
