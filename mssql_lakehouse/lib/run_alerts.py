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


def record(uri: str, alerts: list[RunAlert], now: dt.datetime | None = None) -> int:
    """Add the alerts not recorded yet; returns how many were new."""
    if not alerts:
        return 0
    now = now or dt.datetime.now(dt.UTC)
    rows = [{"recorded_at": now, **asdict(a)} for a in alerts]
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    try:
        target = DeltaTable(uri)
    except Exception:
        write_deltalake(uri, table, mode="append")
        return len(rows)
    predicate = " AND ".join(f"t.{c} = s.{c}" for c in IDENTITY)
    result = target.merge(table, predicate, source_alias="s", target_alias="t").when_not_matched_insert_all().execute()
    return int(result.get("num_target_rows_inserted", 0))


def read(uri: str) -> list[dict]:
    try:
        return DeltaTable(uri).to_pyarrow_table().to_pylist()
    except Exception:
        return []


class RunAlertsTable(dg.ConfigurableResource):
    """The run alerts table the sensors record into (``LAKEHOUSE_RUN_ALERTS_URI``)."""

    uri: str = Field(description="The Delta table of failed runs and failed checks.")

    def record(self, alerts: list[RunAlert]) -> int:
        return record(self.uri, alerts)
