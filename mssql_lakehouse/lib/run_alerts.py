"""The ``ops/run_alerts`` Delta table: failed runs and failed checks, where planners can see them.

Sensors run in the Dagster daemon, not on Spark, so this table is written with
the ``deltalake`` package (no JVM). Records are merged on their identity, so a
sensor evaluated twice for the same run records it once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import dagster as dg
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from pydantic import Field

SCHEMA = pa.schema(
    [
        ("recorded_at", pa.timestamp("us", tz="UTC")),
        ("job_name", pa.string()),
        ("run_id", pa.string()),
        ("partition", pa.string()),
        ("kind", pa.string()),
        ("asset_key", pa.string()),
        ("check_name", pa.string()),
        ("severity", pa.string()),
        ("message", pa.string()),
    ]
)
IDENTITY = ("run_id", "kind", "asset_key", "check_name")


@dataclass(frozen=True)
class RunAlert:
    job_name: str
    run_id: str
    partition: str
    kind: str  # run_failure | check_failure
    asset_key: str
    check_name: str
    severity: str
    message: str


def record(uri: str, alerts: list[RunAlert], now: dt.datetime | None = None) -> list[RunAlert]:
    """Add the alerts not recorded yet; returns those (the ones to notify about)."""
    if not alerts:
        return []
    try:
        target = DeltaTable(uri)
    except Exception:
        target = None
    if target is not None:
        run_ids = sorted({a.run_id for a in alerts})
        known = target.to_pyarrow_table(columns=list(IDENTITY), filters=[("run_id", "in", run_ids)]).to_pylist()
        seen = {tuple(row[c] for c in IDENTITY) for row in known}
        alerts = [a for a in alerts if tuple(getattr(a, c) for c in IDENTITY) not in seen]
        if not alerts:
            return []
    now = now or dt.datetime.now(dt.UTC)
    table = pa.Table.from_pylist([{"recorded_at": now, **asdict(a)} for a in alerts], schema=SCHEMA)
    if target is None:
        write_deltalake(uri, table, mode="append")
        return alerts
    # Merged on identity, not appended: a record made meanwhile by another evaluation is kept once.
    predicate = " AND ".join(f"t.{c} = s.{c}" for c in IDENTITY)
    target.merge(table, predicate, source_alias="s", target_alias="t").when_not_matched_insert_all().execute()
    return alerts


def read(uri: str) -> list[dict]:
    try:
        return DeltaTable(uri).to_pyarrow_table().to_pylist()
    except Exception:
        return []


class RunAlertsTable(dg.ConfigurableResource):
    """The run alerts table the sensors record into (``LAKEHOUSE_RUN_ALERTS_URI``)."""

    uri: str = Field(description="The Delta table of failed runs and failed checks.")

    def record(self, alerts: list[RunAlert]) -> list[RunAlert]:
        return record(self.uri, alerts)
