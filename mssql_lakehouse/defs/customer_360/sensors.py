"""A sensor that starts Customer 360 runs for the days new change data touches.

It watches the configured feed:

* ``sqlserver``: the database's CDC max LSN. When it has advanced past the cursor's,
  the days from the cursor's commit time to the new max LSN's commit time are affected
  (days that were already fully captured at the previous tick are not: nothing of theirs
  can come after the cursor's LSN).
  A new ``bronze/customer_snapshot`` (the feed's initial load) is applied by the silver run of
  its capture day (the day of its LSN), so that day is requested again, once per snapshot.
* ``debezium`` with files: landed ``*.json`` files that are new or changed (size or
  modification time) since the cursor; each file's events say which commit days they touch.
* ``debezium`` from a stream (Kafka, Event Hubs, Auto Loader): a stream is not visible to a
  sensor until a run lands it, so each day is requested once as it closes, and that run (any
  run of ``bronze/customer_changes``) lands every event that has arrived, whatever its day. Its
  materialization records, for the other days, when their newest event landed; a day whose
  events landed after the run that last applied it (landed and wrote its history) started is
  requested again, as is a day never applied. Events published for a past day thus reach silver
  on the tick after the next run, at the latest the next day's.

A new cursor (the sensor switched on after a backfill or ``make demo``, or reset) does not
request the days whose history a run already wrote after their change data arrived: for landed
files, after its bronze read each file that touches the day as the file is now. With a stream,
a new cursor starts with the last complete day; the days before it are requested as its run
lands their events.

A day is requested once its partition exists (the day is over in the ERP's time zone) and,
for SQL Server, the capture job has harvested it; until then it waits in the cursor. Each
request's run key names the day and the change data that triggered it, and the cursor
advances in the same evaluation, so nothing is requested twice; but a day whose run failed
is requested again on a later tick, a few times (see ``requested_runs``).

A day's run refreshes that day's ``gold/customer_360`` (the profiles as of the day's end).
The day's changes also reach every later day's profile: once the history of a day is
rewritten by a run that did not process those later days (late data), the later gold days
already materialized are refreshed by one run over their range, as the sales slice's late-data
sensor does.
"""

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from mssql_lakehouse.defs.customer_360.common import (
    CHANGES,
    CUSTOMER_360,
    CUSTOMERS,
    HISTORY,
    LANDED_FILES,
    LANDED_FOR_OTHER_DAYS,
    QUARANTINE,
    SNAPSHOT,
    business_day_zone,
)
from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
from mssql_lakehouse.lib.partitions import daily_partitions
from mssql_lakehouse.lib.requested_runs import (
    RANGE_START_TAG,
    Requested,
    covering_refresh,
    follow_up,
    log_notes,
    skip_reason,
    with_retries,
)
from mssql_lakehouse.lib.sources import MssqlSource
from mssql_lakehouse.lib.transforms.customer_changes import CAPTURE_INSTANCE
from mssql_lakehouse.lib.transforms.debezium import event_commit_dates, file_signatures, landed_files

customer_360_changes = dg.define_asset_job(
    "customer_360_changes",
    selection=dg.AssetSelection.assets(CHANGES, QUARANTINE, HISTORY, CUSTOMERS, CUSTOMER_360),
    description="Customer 360 for a day of change data: bronze changes -> silver SCD2 history and SCD1 "
    "customers -> gold profiles as of the day's end.",
)
RUN_KEY_PREFIX = "customer_changes"
GOLD_REFRESH_PREFIX = "customer_360_as_of"


@dataclass
class ChangeCursor:
    """What the sensor has seen: file signatures, the max LSN, days waiting to become requestable."""

    files: dict[str, str] = field(default_factory=dict)
    lsn: str | None = None
    through: str | None = None
    """Last day that was requestable (over and captured) when ``lsn`` was read."""
    pending: dict[str, str] = field(default_factory=dict)
    """Day -> the token of the change data that touched it, for days not requestable yet."""
    snapshot_lsn: str | None = None
    """LSN of the last ``bronze/customer_snapshot`` whose day was requested."""
    requested: list[Requested] = field(default_factory=list)
    """Runs requested and not known to have succeeded yet."""
    history_after: int = 0
    """Storage id of the newest ``silver/customers_history`` materialization already read."""
    changes_after: int = 0
    """Stream feeds: storage id of the newest ``bronze/customer_changes`` materialization already read."""

    @classmethod
    def parse(cls, text: str | None) -> "ChangeCursor":
        if not text:
            return cls()
        raw = json.loads(text)
        return cls(
            raw.get("files", {}),
            raw.get("lsn"),
            raw.get("through"),
            raw.get("pending", {}),
            raw.get("snapshot_lsn"),
            [Requested.parse(r) for r in raw.get("requested", [])],
            int(raw.get("history_after", 0)),
            int(raw.get("changes_after", 0)),
        )

    def dump(self) -> str:
        return json.dumps(
            {
                "files": self.files,
                "lsn": self.lsn,
                "through": self.through,
                "pending": self.pending,
                "snapshot_lsn": self.snapshot_lsn,
                "requested": [r.dump() for r in self.requested],
                "history_after": self.history_after,
                "changes_after": self.changes_after,
            },
            sort_keys=True,
        )


def _days(first: dt.date, last: dt.date) -> list[str]:
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def last_complete_day(now: dt.datetime) -> str:
    """The newest daily partition that exists at ``now``: yesterday in the partitions' time zone."""
    local = now.astimezone(ZoneInfo(business_day_zone()))
    return (local.date() - dt.timedelta(days=1)).isoformat()


@dataclass(frozen=True)
class Observation:
    touched: dict[str, str]
    """Day -> token of the change data that touched it."""
    requestable_through: str | None
    """Days up to this one may be requested now."""
    cursor: ChangeCursor
    arrived: dict[str, float] = field(default_factory=dict)
    """Day -> when a new snapshot to apply with it was materialized (epoch seconds): a run that
    started earlier did not apply it. (A closed CDC day is complete before any run can read it.)"""
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    """Day -> the landed files whose events touch it (name -> signature): a run landed the day if
    its ``bronze/customer_changes`` read each of them as it is now. (A file's modification time
    does not say when it landed: copies often keep the source's.)"""


def observe_files(folder: str, cursor: ChangeCursor, time_zone: str) -> Observation:
    """New or changed landed files, and the commit days of their events."""
    signatures = file_signatures(landed_files(folder))
    changed = sorted(name for name, sig in signatures.items() if cursor.files.get(name) != sig)
    touched: dict[str, str] = {}
    files: dict[str, dict[str, str]] = defaultdict(dict)
    for name in changed:
        token = hashlib.sha1(f"{name}@{signatures[name]}".encode()).hexdigest()[:12]
        lines = Path(folder, name).read_text(encoding="utf-8").splitlines()
        for day in event_commit_dates(lines, time_zone):
            files[day][name] = signatures[name]
            touched[day] = (
                token if day not in touched else hashlib.sha1((touched[day] + token).encode()).hexdigest()[:12]
            )
    kept = replace(cursor, files=signatures)
    return Observation(touched, None, kept, files=dict(files))


def observe_cdc(erp: MssqlSource, cursor: ChangeCursor) -> Observation:
    """The days between the cursor's LSN and the database's CDC max LSN."""
    health = erp.cdc_health(CAPTURE_INSTANCE)
    max_lsn = health["max_lsn"]
    captured_until: dt.datetime | None = health["captured_until"]
    # A day can be read once the capture job has harvested all of it.
    through = (captured_until.date() - dt.timedelta(days=1)).isoformat() if captured_until else cursor.through
    if max_lsn is None or (cursor.lsn is not None and max_lsn <= cursor.lsn):
        # Nothing after the cursor's LSN: every day captured by now is complete as far as we are concerned.
        return Observation({}, through, replace(cursor, through=through))
    with erp.control() as session:

        def commit_time(lsn_hex: str) -> dt.datetime | None:
            return session.scalar(session.dialect.cdc_lsn_time_sql, [bytes.fromhex(lsn_hex[2:])])

        newest = commit_time(max_lsn)
        if cursor.lsn:
            oldest = commit_time(cursor.lsn)
        else:
            # First evaluation: from the first commit since the first partition began.
            start = dt.datetime.fromisoformat(daily_partitions.get_first_partition_key())
            first_lsn = session.scalar(session.dialect.cdc_lsn_at_or_after_sql, [start])
            oldest = commit_time("0x" + bytes(first_lsn).hex()) if first_lsn else None
    if newest is None or oldest is None:
        return Observation({}, through, replace(cursor, lsn=max_lsn, through=through))
    first = oldest.date()
    if cursor.through is not None:
        first = max(first, dt.date.fromisoformat(cursor.through) + dt.timedelta(days=1))
    touched = dict.fromkeys(_days(first, newest.date()), max_lsn[2:]) if first <= newest.date() else {}
    return Observation(touched, through, replace(cursor, lsn=max_lsn, through=through))


def observe_stream(instance: dg.DagsterInstance, cursor: ChangeCursor, now: dt.datetime) -> Observation:
    """Stream feeds: the days closed since the cursor's, and the days whose events runs landed since.

    ``arrived``: day -> when its newest event landed, as the runs of ``bronze/customer_changes``
    recorded it. A new cursor starts with the last complete day.
    """
    last = dt.date.fromisoformat(last_complete_day(now))
    through = dt.date.fromisoformat(cursor.through) if cursor.through else last - dt.timedelta(days=1)
    touched = dict.fromkeys(_days(through + dt.timedelta(days=1), last), "closed")
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=CHANGES, after_storage_id=cursor.changes_after), limit=10_000, ascending=True
    ).records
    arrived: dict[str, float] = {}
    for record in records:
        landed = record.asset_materialization.metadata.get(LANDED_FOR_OTHER_DAYS)
        for day, at in (landed.value if landed else {}).items():
            arrived[day] = max(at, arrived.get(day, 0.0))
    for day, at in arrived.items():
        token = f"landed-{int(at)}"
        touched[day] = f"{touched[day]}+{token}" if day in touched else token
    kept = replace(
        cursor,
        through=max(through, last).isoformat(),
        changes_after=max((r.storage_id for r in records), default=cursor.changes_after),
    )
    return Observation(touched, None, kept, arrived=arrived)


def without_days_applied_since(observation: Observation, instance: dg.DagsterInstance) -> Observation:
    """The touched days no run has applied since their events landed (a closed day: no run at all).

    A run applied a day when it wrote both its ``bronze/customer_changes`` and its history; it
    read the events that had landed when it started.
    """
    if not observation.touched:
        return observation
    days = list(observation.touched)
    landed = {(r.partition_key, r.run_id) for r in _writes(instance, CHANGES, days)}
    history = [r for r in _writes(instance, HISTORY, days) if (r.partition_key, r.run_id) in landed]
    applied = _latest_read_by_day(history, instance)
    touched = {
        day: token
        for day, token in observation.touched.items()
        if day not in applied or applied[day] < observation.arrived.get(day, 0.0)
    }
    return replace(observation, touched=touched)


def _writes(instance: dg.DagsterInstance, key: dg.AssetKey, days: list[str]) -> list[dg.EventLogRecord]:
    """The materializations of ``key`` for ``days``."""
    return instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=days), limit=10_000
    ).records


def _latest_read_by_day(records: list[dg.EventLogRecord], instance: dg.DagsterInstance) -> dict[str, float]:
    """Day -> when the latest of the runs that wrote ``records`` started (epoch seconds): a run read the
    change data that had arrived when it started (a runless report: when it was made)."""
    run_ids = list({r.run_id for r in records if r.run_id})
    runs = instance.get_run_records(dg.RunsFilter(run_ids=run_ids)) if run_ids else []
    started = {run.dagster_run.run_id: run.create_timestamp.timestamp() for run in runs}
    latest: dict[str, float] = {}
    for record in records:
        read_at = started.get(record.run_id, record.timestamp)
        latest[record.partition_key] = max(read_at, latest.get(record.partition_key, 0.0))
    return latest


def _latest_snapshot(instance: dg.DagsterInstance) -> tuple[dg.EventLogEntry | None, Mapping[str, Any]]:
    """The latest ``bronze/customer_snapshot`` materialization and its metadata."""
    event = instance.get_latest_materialization_event(SNAPSHOT)
    return event, (event.asset_materialization.metadata if event and event.asset_materialization else {})


def from_latest_snapshot(cursor: ChangeCursor, instance: dg.DagsterInstance) -> ChangeCursor:
    """A new cursor's starting point: the latest snapshot's LSN, where there is a snapshot.

    The snapshot is the initial load: it holds every change committed up to its LSN, and the run
    of its capture day applies it. A day before that day has no change the snapshot lacks (its
    history before the initial load is not rebuilt), so it is not requested.
    """
    lsn = _latest_snapshot(instance)[1].get("snapshot_lsn")
    return replace(cursor, lsn=f"0x{lsn.value}") if lsn is not None else cursor


def with_new_snapshot(observation: Observation, instance: dg.DagsterInstance, cursor: ChangeCursor) -> Observation:
    """Add the day of a ``bronze/customer_snapshot`` materialized since the cursor's."""
    event, metadata = _latest_snapshot(instance)
    lsn, day = metadata.get("snapshot_lsn"), metadata.get("apply_with_partition")
    if lsn is None or day is None or lsn.value == cursor.snapshot_lsn:
        return observation
    token = f"snapshot-{lsn.value[-12:]}"
    touched = dict(observation.touched)
    touched[day.value] = f"{touched[day.value]}+{token}" if day.value in touched else token
    arrived = {**observation.arrived, day.value: max(event.timestamp, observation.arrived.get(day.value, 0.0))}
    return Observation(
        touched, observation.requestable_through, replace(observation.cursor, snapshot_lsn=lsn.value), arrived
    )


def without_days_landed(observation: Observation, instance: dg.DagsterInstance) -> Observation:
    """The touched days whose history no run has written since their change data arrived.

    A new cursor (the sensor switched on after a backfill or ``make demo``, or its cursor reset)
    sees every change since the first partition as new. The days whose run already read all
    of it are not requested again.
    """
    if not observation.touched:
        return observation
    records = _writes(instance, HISTORY, list(observation.touched))
    written = _latest_read_by_day(records, instance)
    writers: dict[str, set[str]] = defaultdict(set)
    for record in records:
        writers[record.partition_key].add(record.run_id)
    read = _files_read(observation.files, written, writers, instance)
    touched = {
        day: token
        for day, token in observation.touched.items()
        if day not in written
        or written[day] < observation.arrived.get(day, 0.0)
        or (day in observation.files and day not in read)
    }
    return replace(observation, touched=touched)


def _files_read(
    files: dict[str, dict[str, str]],
    written: dict[str, float],
    writers: dict[str, set[str]],
    instance: dg.DagsterInstance,
) -> set[str]:
    """The days of ``files`` whose files, each as it is now, a ``bronze/customer_changes`` of the day
    landed before a history write of the day read bronze (in the same run, or one started later)."""
    days = [day for day in files if day in written]
    if not days:
        return set()
    records = _writes(instance, CHANGES, days)
    read = set()
    for record in records:
        day = record.partition_key
        if record.run_id not in writers[day] and record.timestamp > written[day]:
            continue
        landed = record.asset_materialization.metadata.get(LANDED_FILES)
        landed = landed.value if landed else {}
        if all(landed.get(name) == signature for name, signature in files[day].items()):
            read.add(day)
    return read


def plan_runs(observation: Observation, now: dt.datetime) -> tuple[list[Requested], ChangeCursor, list[str]]:
    """Run requests for the touched and pending days that are requestable now; the rest stays pending.

    Returns (requests, new cursor, days before the first partition that were ignored).
    """
    cursor = observation.cursor
    limit = last_complete_day(now)
    if observation.requestable_through is not None and observation.requestable_through < limit:
        limit = observation.requestable_through
    first = daily_partitions.get_first_partition_key()
    wanted = {**cursor.pending}
    for day, token in observation.touched.items():
        wanted[day] = token if day not in cursor.pending else f"{cursor.pending[day]}+{token}"[-64:]
    requests, pending, ignored = [], {}, []
    for day in sorted(wanted):
        if first is not None and day < first:
            ignored.append(day)
        elif day <= limit:
            requests.append(
                Requested(
                    run_key=f"{RUN_KEY_PREFIX}:{day}:{wanted[day]}",
                    attempt=1,
                    partition_key=day,
                    tags={"customer_360/trigger": wanted[day]},
                )
            )
        else:
            pending[day] = wanted[day]
    return requests, replace(cursor, pending=pending), ignored


def stale_gold_days(history: list[dg.EventLogRecord], gold: list[dg.EventLogRecord], gold_days: set[str]) -> list[str]:
    """Materialized gold days that a history write reached after they were last written.

    A run that rewrote the history of day D changed the profiles as of every day from D on;
    those it did not process itself, and that were not written again since, are stale.
    """
    processed: dict[str, set[str]] = defaultdict(set)
    for record in history:
        processed[record.run_id].add(record.partition_key)
    last_written = {}
    for record in gold:
        last_written[record.partition_key] = max(record.storage_id, last_written.get(record.partition_key, 0))
    stale = set()
    for record in history:
        day, run_days = record.partition_key, processed[record.run_id]
        stale |= {g for g in gold_days if g > day and g not in run_days and last_written.get(g, 0) < record.storage_id}
    return sorted(stale)


def gold_refresh(stale: list[str], failed: list[Requested], after: int) -> Requested | None:
    """One run of ``gold/customer_360`` over the range covering the stale days and failed refreshes."""
    failed = [r for r in failed if RANGE_START_TAG in r.tags]
    return covering_refresh(
        stale[:1], stale[-1:], failed, after, GOLD_REFRESH_PREFIX, {"customer_360/trigger": "late_data"}
    )


def run_request(requested: Requested) -> dg.RunRequest:
    """A day's run covers the whole target; a gold refresh (a range) only ``gold/customer_360``."""
    request = requested.run_request()
    if requested.partition_key is not None:
        return request
    return dg.RunRequest(run_key=request.run_key, tags=request.tags, asset_selection=[CUSTOMER_360])


def evaluate(
    context: dg.SensorEvaluationContext,
    settings: CustomerCdcSettings,
    erp: MssqlSource,
    now: dt.datetime | None = None,
) -> dg.SensorResult:
    cursor = ChangeCursor.parse(context.cursor)
    now = now or dt.datetime.now(ZoneInfo(business_day_zone()))
    stream = settings.feed == "debezium" and settings.debezium_source != "files"
    if stream:
        observation = without_days_applied_since(observe_stream(context.instance, cursor, now), context.instance)
    elif settings.feed == "debezium":
        observation = observe_files(settings.landing_path(), cursor, business_day_zone())
    else:
        start = cursor if context.cursor else from_latest_snapshot(cursor, context.instance)
        observation = with_new_snapshot(observe_cdc(erp, start), context.instance, cursor)
    if not context.cursor and not stream:
        observation = without_days_landed(observation, context.instance)
    new, new_cursor, ignored = plan_runs(observation, now)
    if ignored:
        context.log.info(f"Ignoring change data of days before the first partition: {', '.join(ignored)}")
    if new_cursor.pending:
        context.log.info(f"Waiting for days to close (or be captured): {', '.join(sorted(new_cursor.pending))}")
    followed = follow_up(context.instance, cursor.requested)
    log_notes(context, followed)
    history = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=HISTORY, after_storage_id=cursor.history_after), limit=10_000, ascending=True
    ).records
    history_after = max((r.storage_id for r in history), default=cursor.history_after)
    gold = []
    if history:
        # Gold writes older than the oldest new history write cannot be newer than any of them.
        gold = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=CUSTOMER_360, after_storage_id=min(r.storage_id for r in history)),
            limit=10_000,
            ascending=True,
        ).records
    gold_days = context.instance.get_materialized_partitions(CUSTOMER_360)
    refresh = gold_refresh(stale_gold_days(history, gold, gold_days), followed.failed, history_after)
    failed_days = [r for r in followed.failed if r.partition_key is not None]
    requests, to_follow = with_retries(replace(followed, failed=failed_days), new + ([refresh] if refresh else []))
    new_cursor = replace(new_cursor, requested=to_follow, history_after=history_after)
    if not requests:
        return dg.SensorResult(
            skip_reason=skip_reason("No new change data for a day that can run", followed), cursor=new_cursor.dump()
        )
    return dg.SensorResult(run_requests=[run_request(r) for r in requests], cursor=new_cursor.dump())


@dg.sensor(
    name="customer_changes_sensor",
    job=customer_360_changes,
    minimum_interval_seconds=60,
    description="Requests runs of the Customer 360 partitions touched by new change data "
    "(new landed Debezium files, the CDC max LSN advancing, or a stream's events landed by a run for other days; "
    "with a stream, also each day as it closes), and refreshes the later gold days late data reached.",
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def customer_changes_sensor(
    context: dg.SensorEvaluationContext, customer_cdc: CustomerCdcSettings, erp: MssqlSource
) -> dg.SensorResult:
    return evaluate(context, customer_cdc, erp)
