"""Late data: when a silver merge changes rows of older order dates, refresh those gold days.

Silver merges report the order dates they touched (``touched_partition_values``,
from the Delta change feed). Dates outside the partitions the run itself
processed have gold partitions that are now stale, and so do the rolling 7-day
figures of the six days after them; this sensor requests one gold refresh run
over that range (up to the last day the triggering run processed) per stale
date, once per silver materialization (the cursor is the event log's storage id).
"""

import datetime as dt
from collections import defaultdict

import dagster as dg

from mssql_lakehouse.assets.sales.silver import LINES, ORDERS
from mssql_lakehouse.jobs import sales_gold_refresh_job
from mssql_lakehouse.partitions import daily_partitions
from mssql_lakehouse.transforms.sku_metrics import ROLLING_DAYS


def stale_gold_ranges(records: list[dg.EventLogRecord], known_days: set[str]) -> dict[str, tuple[str, int]]:
    """Stale order date -> (last day to refresh, newest storage id that made it stale).

    A date is stale when a run's silver merge touched it without that run processing it.
    """
    processed: dict[str, set[str]] = defaultdict(set)
    touched: dict[str, dict[str, int]] = defaultdict(dict)
    for record in records:
        materialization = record.asset_materialization
        if materialization is None:
            continue
        processed[record.run_id].add(materialization.partition)
        values = materialization.metadata.get("touched_partition_values")
        for day in values.value if values else []:
            touched[record.run_id][day] = record.storage_id
    stale: dict[str, tuple[str, int]] = {}
    for run_id, days in touched.items():
        last_processed = max(processed[run_id])
        for day, storage_id in days.items():
            if day in processed[run_id] or day not in known_days:
                continue
            rolling_end = (dt.date.fromisoformat(day) + dt.timedelta(days=ROLLING_DAYS - 1)).isoformat()
            end = max(day, min(rolling_end, last_processed))
            previous_end, previous_id = stale.get(day, (day, 0))
            stale[day] = (max(end, previous_end), max(storage_id, previous_id))
    return stale


@dg.sensor(
    name="sales_late_data",
    job=sales_gold_refresh_job,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-materializes gold sales partitions whose order dates a later silver merge changed.",
)
def sales_late_data_sensor(context: dg.SensorEvaluationContext):
    after = int(context.cursor) if context.cursor else 0
    records: list[dg.EventLogRecord] = []
    for key in (ORDERS, LINES):
        result = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=10_000, ascending=True
        )
        records.extend(result.records)
    if not records:
        return dg.SkipReason("No new silver sales materializations")
    known = set(daily_partitions.get_partition_keys(dynamic_partitions_store=context.instance))
    for day, (end, storage_id) in sorted(stale_gold_ranges(records, known).items()):
        yield dg.RunRequest(
            run_key=f"late-data-{day}-{storage_id}",
            tags={
                "dagster/asset_partition_range_start": day,
                "dagster/asset_partition_range_end": end,
                "lakehouse/trigger": "late_data",
            },
        )
    context.update_cursor(str(max(r.storage_id for r in records)))
