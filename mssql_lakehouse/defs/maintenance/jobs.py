"""Table maintenance: a weekly VACUUM of every lakehouse table, which is what removes orphaned files.

A Delta commit is atomic, but a write's data files are written before its commit: a write
that fails (a task error, a ``replaceWhere`` whose rows fall outside its predicate) or is
killed after writing some files leaves files no version references. Readers never see
them and the DR replica never copies them (it copies the files commits add); only VACUUM
deletes them, together with the files of versions that left the retention.

VACUUM deletes a file no current version references once it is older than the table's
``delta.deletedFileRetentionDuration``: an orphan by its modification time, a file a commit
removed by the time of that commit. Delta 4 (delta-spark 4.4 here) ignores ``VACUUM ...
RETAIN <n> HOURS`` but for 0, so the retention is the property: the job first raises it
where it is shorter than the retention the table needs, the longest of

- the table's own ``delta.deletedFileRetentionDuration`` (Delta's default: 7 days);
- the audit window (``LAKEHOUSE_AUDIT_RETENTION_DAYS``) as far as the table's log reaches
  back (``delta.logRetentionDuration``, Delta's default: 30 days): every version time travel
  can still reach within the audit window keeps its files. The finance close keeps its log
  for the whole window, so its files stay as long; a table whose log keeps 30 days keeps
  30 days of files, so VACUUM never breaks a time travel its log still allows.

The property is only ever raised, once per table (a metadata commit, tagged in
``userMetadata``). VACUUM runs with Delta's vacuum logging on, so the table's history
records what it deleted (``VACUUM START``/``VACUUM END``); the job reports those counts per
table. Locally the job vacuums every table under the active tables root; on Databricks every
Delta table of the catalog, with the same SQL (``VACUUM <catalog>.<layer>.<table>``). The DR
replica is never vacuumed: replication deletes what the source's VACUUM deleted.
"""

import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from pyspark.sql import SparkSession

from mssql_lakehouse.lib.asset_defaults import SPARK_RESOURCES
from mssql_lakehouse.lib.io.delta_tables import DeltaLocation, commit_metadata, session_conf
from mssql_lakehouse.lib.io.tables_resource import LakehouseTables
from mssql_lakehouse.settings import LakehouseSettings

DELETED_FILE_RETENTION = "delta.deletedFileRetentionDuration"
LOG_RETENTION = "delta.logRetentionDuration"
# Delta's defaults for the two properties, in hours.
DEFAULT_DELETED_FILE_RETENTION_HOURS = 7 * 24.0
DEFAULT_LOG_RETENTION_HOURS = 30 * 24.0
VACUUM_LOGGING_CONF = "spark.databricks.delta.vacuum.logging.enabled"

_HOURS_PER_UNIT = {
    "microsecond": 1 / 3_600_000_000,
    "millisecond": 1 / 3_600_000,
    "second": 1 / 3600,
    "minute": 1 / 60,
    "hour": 1.0,
    "day": 24.0,
    "week": 168.0,
}
_INTERVAL_TERM = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+?)s?\b")


def interval_hours(text: str) -> float:
    """Hours of a Delta interval property such as ``interval 7 days`` or ``interval 1 day 12 hours``."""
    body = text.strip().lower().removeprefix("interval").strip()
    terms = _INTERVAL_TERM.findall(body)
    if not terms or _INTERVAL_TERM.sub("", body).strip():
        raise ValueError(f"Not a Delta interval: {text!r}")
    try:
        return sum(float(amount) * _HOURS_PER_UNIT[unit] for amount, unit in terms)
    except KeyError as error:
        raise ValueError(f"Not a Delta interval: {text!r} (unit {error.args[0]!r})") from None


def retention_hours(properties: dict[str, str], audit_retention_days: int) -> int:
    """How long VACUUM keeps unreferenced files of a table with these properties (see the module doc)."""
    deleted_files = _property_hours(properties, DELETED_FILE_RETENTION, DEFAULT_DELETED_FILE_RETENTION_HOURS)
    log = _property_hours(properties, LOG_RETENTION, DEFAULT_LOG_RETENTION_HOURS)
    # Whole hours, rounded up: never less than either property.
    return math.ceil(max(deleted_files, min(audit_retention_days * 24.0, log)))


def interval_text(hours: int) -> str:
    """The property value for ``hours``, in days when whole (the form the finance close writes)."""
    return f"interval {hours // 24} days" if hours % 24 == 0 else f"interval {hours} hours"


def _property_hours(properties: dict[str, str], name: str, default: float) -> float:
    return interval_hours(properties[name]) if name in properties else default


def lakehouse_tables(spark: SparkSession, tables: LakehouseTables) -> list[DeltaLocation]:
    """Every Delta table of the lakehouse: under the tables root locally, in the catalog on Databricks."""
    if tables.catalog:
        catalog = tables.catalog.replace("`", "``")
        rows = spark.sql(
            f"SELECT table_schema, table_name FROM `{catalog}`.information_schema.tables "
            "WHERE data_source_format = 'DELTA' AND table_type IN ('MANAGED', 'EXTERNAL') "
            "AND table_schema <> 'information_schema' ORDER BY table_schema, table_name"
        ).collect()
        return [DeltaLocation(r["table_schema"], r["table_name"], catalog=tables.catalog) for r in rows]
    assert tables.tables_root, "the local deployment has a tables root"
    root = Path(tables.tables_root)
    if not root.is_dir():
        return []
    return [
        DeltaLocation.for_table(layer.name, table.name, tables_root=str(root), catalog=None)
        for layer in sorted(root.iterdir())
        # Folders such as ``_diverged`` hold tables moved aside, not the lakehouse's.
        if layer.is_dir() and not layer.name.startswith(("_", "."))
        for table in sorted(layer.iterdir())
        if (table / "_delta_log").is_dir()
    ]


@dataclass
class TableVacuum:
    """What VACUUM did to one table."""

    table: str
    retention_hours: int
    retention_raised_from_hours: float | None = None
    files_deleted: int = 0
    bytes_deleted: int = 0
    seconds: float = 0.0

    def as_metadata(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 1)}


def vacuum_table(spark: SparkSession, location: DeltaLocation, audit_retention_days: int) -> TableVacuum:
    """VACUUM one table with the retention it needs; the counts come from its ``VACUUM START``/``END`` commits."""
    started = time.monotonic()
    table = location.delta_table(spark)
    properties = dict(table.detail().select("properties").collect()[0]["properties"] or {})
    result = TableVacuum(f"{location.layer}/{location.table}", retention_hours(properties, audit_retention_days))
    configured = _property_hours(properties, DELETED_FILE_RETENTION, DEFAULT_DELETED_FILE_RETENTION_HOURS)
    if configured < result.retention_hours:
        value = interval_text(result.retention_hours)
        # The log retention is restated: Delta checks the new deleted-file retention against the
        # log retention set in the same statement (else its 30-day default), not the table's.
        settings = {DELETED_FILE_RETENTION: value, **{k: v for k, v in properties.items() if k == LOG_RETENTION}}
        assignments = ", ".join(f"'{k}' = '{v}'" for k, v in settings.items())
        with commit_metadata(spark, {"operation": "set deleted-file retention", "retention": value}):
            spark.sql(f"ALTER TABLE {location.qualified_name} SET TBLPROPERTIES ({assignments})")
        result.retention_raised_from_hours = configured
    before = int(table.history(1).collect()[0]["version"])
    # Delta's vacuum logging: VACUUM records its counts in the table's history.
    with session_conf(spark, VACUUM_LOGGING_CONF, "true"):
        spark.sql(f"VACUUM {location.qualified_name}")
    # Writers may commit meanwhile: take this VACUUM's own commits, the latest after ``before``.
    commits = (
        table.history()
        .where(f"version > {before} AND operation IN ('VACUUM START', 'VACUUM END')")
        .orderBy("version")
        .select("operation", "operationMetrics")
        .collect()
    )
    metrics = {c["operation"]: c["operationMetrics"] or {} for c in commits}
    result.files_deleted = int(metrics.get("VACUUM END", {}).get("numDeletedFiles", 0))
    result.bytes_deleted = int(metrics.get("VACUUM START", {}).get("sizeOfDataToDelete", 0))
    result.seconds = time.monotonic() - started
    return result


@dg.op(
    required_resource_keys=SPARK_RESOURCES | {"tables", "finance_archive"},
    out=dg.Out(dg.Nothing),  # a report in metadata, nothing for an IO manager to store
    description="VACUUM every lakehouse table with its retention (the longest of its deleted-file retention "
    "and the audit window its log reaches); reports per table the files and bytes deleted.",
)
def vacuum_lakehouse_tables(context: dg.OpExecutionContext) -> dg.Output:
    spark = context.resources.spark.get_session()
    audit_days = int(context.resources.finance_archive.retention_days)
    done: list[TableVacuum] = []
    failed: dict[str, str] = {}
    for location in lakehouse_tables(spark, context.resources.tables):
        try:
            result = vacuum_table(spark, location, audit_days)
        except Exception as error:
            failed[f"{location.layer}/{location.table}"] = f"{type(error).__name__}: {str(error)[:300]}"
            continue
        raised = (
            ""
            if result.retention_raised_from_hours is None
            else f" (raised from {result.retention_raised_from_hours:g} h)"
        )
        context.log.info(
            f"{result.table}: retention {result.retention_hours} h{raised}, deleted {result.files_deleted} files "
            f"({result.bytes_deleted} bytes) in {result.seconds:.1f} s"
        )
        done.append(result)
    metadata = maintenance_metadata(done, audit_days)
    if failed:
        raise dg.Failure(
            description="VACUUM failed for: " + "; ".join(f"{t}: {e}" for t, e in failed.items()),
            metadata={**metadata, "failed": dg.MetadataValue.json(failed)},
        )
    return dg.Output(None, metadata=metadata)


def maintenance_metadata(done: list[TableVacuum], audit_days: int) -> dict[str, Any]:
    lines = ["| table | retention (h) | files deleted | bytes deleted | seconds |", "|---|---|---|---|---|"]
    lines += [
        f"| {r.table} | {r.retention_hours} | {r.files_deleted} | {r.bytes_deleted} | {r.seconds:.1f} |" for r in done
    ]
    return {
        "audit_retention_days": audit_days,
        "tables_vacuumed": len(done),
        "files_deleted": sum(r.files_deleted for r in done),
        "bytes_deleted": sum(r.bytes_deleted for r in done),
        "summary": dg.MetadataValue.md("\n".join(lines)),
        "tables": dg.MetadataValue.json([r.as_metadata() for r in done]),
    }


@dg.job(
    name="lakehouse_maintenance",
    description="VACUUM every lakehouse table: removes orphaned files of failed or killed writes and the files "
    "of versions older than each table's retention.",
)
def lakehouse_maintenance() -> None:
    vacuum_lakehouse_tables()


def lakehouse_maintenance_schedule(settings: LakehouseSettings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="lakehouse_maintenance_schedule",
        job=lakehouse_maintenance,
        cron_schedule=settings.maintenance.cron,
        execution_timezone=settings.erp_timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Weekly VACUUM of every lakehouse table (LAKEHOUSE_MAINTENANCE_CRON).",
    )
