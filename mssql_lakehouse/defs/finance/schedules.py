"""The month-end close run: on the Nth business day after the month ends, in the ERP's time zone.

Cron cannot say "3rd business day", so the schedule ticks on weekdays at the close time
(``LAKEHOUSE_FINANCE_CLOSE_CRON``, default ``0 6 * * 1-5``) and requests the previous month
only on business day ``LAKEHOUSE_FINANCE_CLOSE_BUSINESS_DAY`` (default 3; Monday-Friday,
public holidays not considered). The run key makes it one close per period; restatements
are on demand (UI: materialize the partition; CLI: ``dagster job launch -j finance_close
--partition YYYY-MM``).
"""

import datetime as dt

import dagster as dg

from mssql_lakehouse.defs.finance.close_history import GOLD_CLOSE
from mssql_lakehouse.defs.finance.partitions import monthly_periods
from mssql_lakehouse.lib.check_rules import freshness_checks_on
from mssql_lakehouse.settings import LakehouseSettings

finance_close = dg.define_asset_job(
    "finance_close",
    selection=dg.AssetSelection.groups("finance") - freshness_checks_on([GOLD_CLOSE]),
    description=(
        "Close one reporting period: ledger snapshot -> validated ledger -> trial balance, tagged and archived."
    ),
)


def nth_business_day(year: int, month: int, n: int) -> dt.date:
    """The n-th Monday-to-Friday day of the month."""
    day = dt.date(year, month, 1)
    seen = 0
    while True:
        if day.weekday() < 5:
            seen += 1
            if seen == n:
                return day
        day += dt.timedelta(days=1)


def finance_close_after_month_end(settings: LakehouseSettings) -> dg.ScheduleDefinition:
    business_day = settings.finance.close_business_day

    @dg.schedule(
        name="finance_close_after_month_end",
        job=finance_close,
        cron_schedule=settings.finance.close_cron,
        execution_timezone=settings.erp_timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        today = context.scheduled_execution_time.date()
        close_day = nth_business_day(today.year, today.month, business_day)
        if today != close_day:
            return dg.SkipReason(f"The close runs on business day {business_day} of the month ({close_day})")
        ended = monthly_periods.get_prev_partition_window(context.scheduled_execution_time)
        if ended is None:
            return dg.SkipReason("No complete reporting period yet since the partitions start")
        period = monthly_periods.get_partition_key_for_timestamp(ended.start.timestamp())
        return dg.RunRequest(run_key=f"finance-close-{period}", partition_key=period)

    return _schedule
