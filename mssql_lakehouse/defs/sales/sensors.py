"""Late data: when a silver merge changes rows of older order dates, refresh those gold days.

Silver merges report the order dates whose rows they changed (``touched_partition_values``,
from the Delta change feed). Dates outside the partitions the run itself processed have gold
partitions that are now stale, and so do the rolling 7-day figures of the six days after them
(up to the last day the triggering run processed). A run's merges are read once the run has
finished, so a refresh never runs beside the run that made it necessary. Each evaluation requests at most one gold
refresh: a single run over the range that covers every stale date found since the cursor (the
event log's storage id), so a backfill that touched many old dates starts one run, not one per
date. A refresh that failed is requested again on a later tick (see ``requested_runs``); it
joins that tick's range when new late data came in meanwhile.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass

import dagster as dg

from mssql_lakehouse.defs.sales.jobs import sales_gold_refresh
from mssql_lakehouse.defs.sales.silver import LINES, ORDERS
from mssql_lakehouse.lib.partitions import daily_partitions
from mssql_lakehouse.lib.requested_runs import (
    Requested,
    covering_refresh,
    follow_up,
    log_notes,
    skip_reason,
)
from mssql_lakehouse.lib.transforms.sku_metrics import ROLLING_DAYS


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


def settled(instance: dg.DagsterInstance, records: list[dg.EventLogRecord]) -> list[dg.EventLogRecord]:
    """``records`` (by storage id) up to the first one of a run still in progress; the next tick reads the rest.

    A run's silver orders land before its lines and its gold: a refresh requested then would race it
    on the same gold days and read lines it has not merged yet.
    """
    run_ids = list({r.run_id for r in records if r.run_id})
    runs = instance.get_runs(dg.RunsFilter(run_ids=run_ids)) if run_ids else []
    in_progress = {run.run_id for run in runs if not run.is_finished}
    for index, record in enumerate(records):
        if record.run_id in in_progress:
            return records[:index]
    return records


def refresh_request(stale: dict[str, tuple[str, int]], failed: list[Requested], after: int) -> Requested | None:
    """One gold refresh over the stale ranges and the failed refreshes to retry, or None if there are none.

    The range is the smallest one that covers them all: refreshing a fresh gold day in between
    recomputes what it holds, while a run per range would race on the rolling weeks they share.
    """
    return covering_refresh(
        list(stale), [end for end, _ in stale.values()], failed, after, "late-data", {"lakehouse/trigger": "late_data"}
    )


@dataclass(frozen=True)
class LateDataCursor:
    after: int = 0
    """Storage id of the newest silver materialization already read."""
    requested: tuple[Requested, ...] = ()
    """Refreshes requested and not known to have succeeded yet."""

    @classmethod
    def parse(cls, text: str | None) -> LateDataCursor:
        if not text:
            return cls()
        if text.isdigit():  # the cursor of earlier versions: the storage id alone
            return cls(int(text))
        raw = json.loads(text)
        return cls(int(raw["after"]), tuple(Requested.parse(r) for r in raw.get("requested", [])))

    def dump(self) -> str:
        return json.dumps({"after": self.after, "requested": [r.dump() for r in self.requested]}, sort_keys=True)


@dg.sensor(
    name="sales_late_data",
    job=sales_gold_refresh,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-materializes gold sales partitions whose order dates a later silver merge changed: "
    "one run per evaluation over every stale range, failed refreshes requested again.",
)
def sales_late_data(context: dg.SensorEvaluationContext):
    cursor = LateDataCursor.parse(context.cursor)
    records: list[dg.EventLogRecord] = []
    for key in (ORDERS, LINES):
        result = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=cursor.after), limit=10_000, ascending=True
        )
        records.extend(result.records)
    records = settled(context.instance, sorted(records, key=lambda r: r.storage_id))
    known = set(daily_partitions.get_partition_keys(dynamic_partitions_store=context.instance))
    stale = stale_gold_ranges(records, known)
    after = max((r.storage_id for r in records), default=cursor.after)
    followed = follow_up(context.instance, cursor.requested)
    log_notes(context, followed)
    request = refresh_request(stale, followed.failed, after)
    context.update_cursor(LateDataCursor(after, (*followed.waiting, *([request] if request else []))).dump())
    if request is None:
        found = (
            "No silver merge changed order dates outside its own run"
            if records
            else "No new silver sales materializations"
        )
        yield skip_reason(found, followed)
        return
    yield request.run_request()
