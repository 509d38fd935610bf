"""The closes of a reporting period: numbered from the Delta history, archived, kept for audit.

Each close of a period is one commit of ``gold/financial_close`` whose ``userMetadata``
names the period, the close number, whether it restates an earlier close, the Dagster run
and the source extraction time. The history is the register of closes: the next close
number is one more than the highest recorded for the period, and an auditor reads a close
back by time travel to its version, or from its archive copy
``<archive root>/financial_close/period=YYYY-MM/close=N`` (its own Delta table, written
once and never overwritten) when time travel cannot reach it any more.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import dagster as dg
from delta.tables import DeltaTable
from pydantic import Field
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mssql_lakehouse.lib.io.delta_tables import DeltaLocation, commit_metadata

GOLD_CLOSE = dg.AssetKey(["gold", "financial_close"])
ARCHIVE_TABLE = "financial_close"
RETENTION_PROPERTIES = ("delta.logRetentionDuration", "delta.deletedFileRetentionDuration")


@dataclass(frozen=True)
class CloseRecord:
    reporting_period: str
    close_number: int
    version: int
    timestamp: dt.datetime
    run_id: str | None
    restatement: bool
    source_extracted_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "close": self.close_number,
            "version": self.version,
            "time": self.timestamp.isoformat(sep=" ", timespec="seconds"),
            "run_id": self.run_id,
            "restatement": self.restatement,
            "source_extracted_at": self.source_extracted_at,
        }


class FinanceArchive(dg.ConfigurableResource):
    """Where close snapshots are archived, and how long closes stay reachable by time travel."""

    root: str = Field(description="Archive root: a folder or cloud URI, possibly another storage account.")
    retention_days: int = Field(default=2555, description="Audit window: Delta log and file retention, in days.")

    def path(self, period: str, close_number: int) -> str:
        return archive_path(self.root, period, close_number)


def archive_path(root: str, period: str, close_number: int) -> str:
    return f"{root.rstrip('/')}/{ARCHIVE_TABLE}/period={period}/close={close_number}"


def _as_utc(moment: dt.datetime) -> dt.datetime:
    """A commit time as naive UTC: PySpark hands timestamps back in the Python process's local zone."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def close_history(spark: SparkSession, location: DeltaLocation, period: str | None = None) -> list[CloseRecord]:
    """Every close recorded in the table's history (of one period if given), oldest first."""
    if not location.exists(spark):
        return []
    records = []
    for row in location.delta_table(spark).history().select("version", "timestamp", "userMetadata").collect():
        try:
            tags = json.loads(row["userMetadata"] or "")
        except json.JSONDecodeError:
            continue
        if not isinstance(tags, dict) or "close_number" not in tags or "reporting_period" not in tags:
            continue
        if period is not None and tags["reporting_period"] != period:
            continue
        records.append(
            CloseRecord(
                reporting_period=tags["reporting_period"],
                close_number=int(tags["close_number"]),
                version=int(row["version"]),
                timestamp=_as_utc(row["timestamp"]),
                run_id=tags.get("dagster_run_id"),
                restatement=bool(tags.get("restatement", False)),
                source_extracted_at=tags.get("source_extracted_at"),
            )
        )
    return sorted(records, key=lambda r: r.version)


def next_close_number(history: list[CloseRecord]) -> int:
    return 1 + max((r.close_number for r in history), default=0)


def read_close(
    spark: SparkSession, location: DeltaLocation, archive_root: str | None, record: CloseRecord
) -> tuple[DataFrame, str]:
    """The rows of one close exactly as reported: by time travel, else from the archive."""
    try:
        df = location.read(spark, version=record.version).where(
            F.col("reporting_period") == F.lit(record.reporting_period)
        )
        df.limit(1).collect()  # time travel fails here, not later, when the version is gone
        return df, f"time travel to version {record.version}"
    except Exception as error:
        if not archive_root:
            raise
        path = archive_path(archive_root, record.reporting_period, record.close_number)
        if not DeltaTable.isDeltaTable(spark, path):
            raise FileNotFoundError(
                f"close {record.close_number} of {record.reporting_period} is neither "
                f"reachable by time travel ({error}) nor archived at {path}"
            ) from error
        return spark.read.format("delta").load(path), f"archive {path}"


def write_archive(spark: SparkSession, df: DataFrame, root: str, record: CloseRecord) -> tuple[str, bool]:
    """Archive one close as its own Delta table; an existing archive is never overwritten."""
    path = archive_path(root, record.reporting_period, record.close_number)
    if DeltaTable.isDeltaTable(spark, path):
        return path, False
    with commit_metadata(
        spark,
        {"archive_of": GOLD_CLOSE.to_user_string(), **record.as_dict(), "reporting_period": record.reporting_period},
    ):
        df.write.format("delta").mode("errorifexists").save(path)
    return path, True


def ensure_archived(
    spark: SparkSession, location: DeltaLocation, root: str, history: list[CloseRecord]
) -> list[tuple[int, str, bool]]:
    """Archive every close of ``history`` not archived yet, from its own version (repairs a failed archive step)."""
    done = []
    for record in history:
        df = location.read(spark, version=record.version).where(
            F.col("reporting_period") == F.lit(record.reporting_period)
        )
        path, written = write_archive(spark, df, root, record)
        done.append((record.close_number, path, written))
    return done


def retention_value(days: int) -> str:
    return f"interval {int(days)} days"


def table_properties(spark: SparkSession, location: DeltaLocation) -> dict[str, str]:
    detail = location.delta_table(spark).detail().select("properties").collect()[0]
    return dict(detail["properties"] or {})


def ensure_retention(spark: SparkSession, location: DeltaLocation, df: DataFrame, days: int) -> dict[str, str]:
    """Create the table with the audit retention, or set it when it differs; returns the properties.

    Log retention keeps every close's version reachable by time travel for the audit window;
    deleted-file retention makes VACUUM (with Delta's retention check on) refuse to remove
    the files of those versions before it ends.
    """
    wanted = {p: retention_value(days) for p in RETENTION_PROPERTIES}
    if not location.exists(spark):
        builder = DeltaTable.createIfNotExists(spark)
        builder = builder.tableName(location.uri) if location.catalog else builder.location(location.path)
        builder = builder.addColumns(df.schema)
        for name, value in wanted.items():
            builder = builder.property(name, value)
        with commit_metadata(spark, {"operation": "create with audit retention", "retention_days": days}):
            builder.execute()
    else:
        current = table_properties(spark, location)
        if any(current.get(p) != v for p, v in wanted.items()):
            settings = ", ".join(f"'{p}' = '{v}'" for p, v in wanted.items())
            with commit_metadata(spark, {"operation": "set audit retention", "retention_days": days}):
                spark.sql(f"ALTER TABLE {location.qualified_name} SET TBLPROPERTIES ({settings})")
    return table_properties(spark, location)


def retention_days_of(properties: dict[str, str], name: str) -> int | None:
    value = properties.get(name, "").strip().lower()
    parts = value.split()
    if len(parts) == 3 and parts[0] == "interval" and parts[2].startswith("day"):
        return int(parts[1])
    return None
