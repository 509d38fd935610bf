"""Change Tracking: net changes since a version, current values joined, deletes included."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from mssql_lakehouse.lib.sources import (
    CT_OPERATION,
    CT_VERSION,
    ChangeTrackingVersionExpiredError,
    ExtractionMode,
    MssqlSource,
    SourceConfigError,
    TableSource,
)
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_demo import cleanup_change_tracking, erp_path

HEADERS = TableSource(
    "Sales",
    "SalesOrderHeader",
    ExtractionMode.CHANGE_TRACKING,
    key_columns=("SalesOrderID",),
    split_column="SalesOrderID",
)
LINES = TableSource(
    "Sales",
    "SalesOrderDetail",
    ExtractionMode.CHANGE_TRACKING,
    key_columns=("SalesOrderDetailID",),
    split_column="SalesOrderDetailID",
)


def _version_at(con, when: dt.datetime) -> int:
    return con.execute("SELECT max(version) FROM ct.versions WHERE commit_time < ?", [when]).fetchone()[0]


def test_net_changes_since_a_version_include_deletes_and_current_values(spark, seeded_demo):
    path = erp_path(seeded_demo)
    with duckdb.connect(str(path), read_only=True) as con:
        since = _version_at(con, dt.datetime(2024, 3, 2))
        changed = {
            r[0]
            for r in con.execute(
                'SELECT DISTINCT "SalesOrderDetailID" FROM ct."Sales_SalesOrderDetail" WHERE "SYS_CHANGE_VERSION" > ?',
                [since],
            ).fetchall()
        }
        current = {
            r[0]: r[1:]
            for r in con.execute(
                'SELECT "SalesOrderDetailID", "OrderQty", "UnitPrice", "ModifiedDate" FROM "Sales"."SalesOrderDetail"'
            ).fetchall()
        }
    source = MssqlSource.demo(path, LakehouseSettings(), target_rows_per_partition=200, max_partitions=3)

    extraction = source.extract(spark, LINES, since=since)
    rows = extraction.df.collect()

    keys = [r["SalesOrderDetailID"] for r in rows]
    assert sorted(keys) == sorted(changed) and len(keys) == len(set(keys))  # net: one row per key
    deletes = [r for r in rows if r[CT_OPERATION] == "D"]
    assert deletes, "the demo deletes some order lines when it amends orders"
    for r in deletes:
        assert r["SalesOrderDetailID"] not in current  # the key arrives; the row's values are gone
        assert r["OrderQty"] is None and r["UnitPrice"] is None
    for r in rows:
        if r[CT_OPERATION] != "D":
            assert (r["OrderQty"], r["UnitPrice"], r["ModifiedDate"]) == current[r["SalesOrderDetailID"]]
        assert since < r[CT_VERSION] <= extraction.next_position
    assert {r[CT_OPERATION] for r in rows} == {"I", "U", "D"}

    # Resuming from the returned version finds nothing new.
    assert source.extract(spark, LINES, since=extraction.next_position).df.count() == 0


def test_an_expired_version_fails_and_names_the_table(spark, demo_dir):
    path = erp_path(demo_dir)
    cleanup_change_tracking(demo_dir, "Sales.SalesOrderHeader", dt.datetime(2024, 3, 2))
    source = MssqlSource.demo(path, LakehouseSettings())

    with pytest.raises(ChangeTrackingVersionExpiredError) as err:
        source.extract(spark, HEADERS, since=0)
    assert "Sales.SalesOrderHeader" in str(err.value) and "full refresh" in str(err.value)

    refresh = source.extract(spark, HEADERS, full_refresh=True)
    assert refresh.df.count() == refresh.source_row_count
    assert source.extract(spark, HEADERS, since=refresh.next_position).df.count() == 0


def test_without_a_saved_version_it_asks_for_a_full_refresh(spark, seeded_demo):
    with pytest.raises(SourceConfigError, match="full refresh"):
        MssqlSource.demo(erp_path(seeded_demo), LakehouseSettings()).extract(spark, HEADERS)
