"""The weekly VACUUM removes orphaned files past each table's retention and keeps what time travel needs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable as DeltaLakeTable

from mssql_lakehouse.defs.finance.close_history import FinanceArchive
from mssql_lakehouse.defs.maintenance.jobs import lakehouse_maintenance, retention_hours
from mssql_lakehouse.lib.io.tables_resource import LakehouseTables
from mssql_lakehouse.lib.resources.spark import SparkResource
from mssql_lakehouse_tests.replication.conftest import referenced_files, table_files
from mssql_lakehouse_tests.replication.orphans import fail_a_replace_where, orders

DAY = 86_400
AUDIT_DAYS = 90
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


def age(path: Path, days: int) -> None:
    moment = time.time() - days * DAY
    os.utime(path, (moment, moment))


def read(table: Path, version: int | None = None) -> list[dict]:
    return sorted(
        DeltaLakeTable(str(table), version=version).to_pyarrow_table().to_pylist(), key=lambda r: r["order_id"]
    )


def make_table(spark, table: Path, properties: dict[str, str]) -> tuple[list[dict], set[str], set[str]]:
    """v0, then an overwrite (v0's files become removed files), then a failed write's orphans.

    Every data file is made 40 days old, one orphan only 10 days: VACUUM must go by the log's
    tombstones for removed files, and by the file time only for files no commit ever referenced.
    """
    writer = orders(spark, range(10), "2026-11-01").write.format("delta").partitionBy("day")
    for name, value in properties.items():
        writer = writer.option(name, value)
    writer.save(str(table))  # v0
    v0 = read(table)
    orders(spark, range(5), "2026-11-01", amount=2).write.format("delta").mode("overwrite").save(str(table))  # v1
    orphans = sorted(fail_a_replace_where(spark, table, "2026-11-02"))
    for rel in table_files(table):
        age(table / rel, 40)
    age(table / orphans[0], 10)
    return v0, set(orphans[1:]), {orphans[0]}


def test_vacuum_removes_orphans_older_than_the_retention_and_keeps_every_version_within_it(spark, tmp_path):
    root = tmp_path / "tables"
    ordinary, audited = root / "bronze" / "sales_order_header", root / "gold" / "financial_close"
    v0, old_orphans, recent_orphans = make_table(spark, ordinary, {})
    audited_v0, audited_orphans, _ = make_table(
        spark,
        audited,
        {"delta.logRetentionDuration": "interval 60 days", "delta.deletedFileRetentionDuration": "interval 1 days"},
    )
    check_before = spark.conf.get(RETENTION_CHECK)
    resources = {
        "spark": SparkResource(),
        "step_launcher": dg.ResourceDefinition.none_resource(),
        "tables": LakehouseTables(tables_root=str(root)),
        "finance_archive": FinanceArchive(root=str(tmp_path / "archive"), retention_days=AUDIT_DAYS),
    }

    result = lakehouse_maintenance.execute_in_process(resources=resources)

    # Ordinary table: its log reaches back 30 days (Delta's default), so 30 days of files are kept.
    assert not old_orphans & table_files(ordinary), "orphans older than the retention are deleted"
    assert recent_orphans <= table_files(ordinary), "a 10-day-old orphan is within the 30 days the log reaches"
    assert read(ordinary, version=0) == v0, "the oldest version in the log still reads: its removed files stay"
    assert len(read(ordinary)) == 5
    # Audited table: its log keeps 60 days (of a 90-day audit window), so nothing 40 days old goes.
    assert audited_orphans <= table_files(audited)
    assert read(audited, version=0) == audited_v0
    assert referenced_files(ordinary) and referenced_files(audited)
    assert spark.conf.get(RETENTION_CHECK) == check_before, "Delta's retention check is left as it was"

    report = next(e for e in result.all_events if e.is_successful_output).event_specific_data.metadata
    assert report["files_deleted"].value == len(old_orphans)
    tables = {t["table"]: t for t in report["tables"].value}
    assert tables["bronze/sales_order_header"]["retention_hours"] == 30 * 24
    assert tables["bronze/sales_order_header"]["files_deleted"] == len(old_orphans)
    assert tables["bronze/sales_order_header"]["bytes_deleted"] > 0
    assert tables["gold/financial_close"] == {
        **tables["gold/financial_close"],
        "retention_hours": 60 * 24,
        "retention_raised_from_hours": 24,
        "files_deleted": 0,
    }


@pytest.mark.parametrize(
    ("properties", "expected_days"),
    [
        ({}, 30),  # Delta's defaults: files 7 days, log 30 days -> every version in the log stays readable
        ({"delta.logRetentionDuration": "interval 2555 days"}, 90),  # the audit window, as far as the log reaches
        (
            {
                "delta.logRetentionDuration": "interval 2555 days",
                "delta.deletedFileRetentionDuration": "interval 2555 days",
            },
            2555,
        ),
        ({"delta.logRetentionDuration": "interval 2 days"}, 7),  # never below the deleted-file retention
        ({"delta.deletedFileRetentionDuration": "interval 1 weeks 12 hours"}, 30),
    ],
)
def test_retention_is_the_deleted_file_retention_or_the_audit_window_the_log_reaches(properties, expected_days):
    assert retention_hours(properties, audit_retention_days=AUDIT_DAYS) == expected_days * 24
