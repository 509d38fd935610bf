"""CDC: the change rows of a capture instance between two LSNs, in commit order, each once."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from mssql_lakehouse.lib.sources import (
    CDC_COMMIT_TIME,
    CDC_ORDER,
    CdcPositionExpiredError,
    ChangeWindowNotClosedError,
    ExtractionMode,
    MssqlSource,
    TableSource,
)
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_demo import cleanup_cdc, erp_path, format_lsn

HEADERS = TableSource(
    "Sales",
    "SalesOrderHeader",
    ExtractionMode.CDC,
    key_columns=("SalesOrderID",),
    split_column="SalesOrderID",
    reconcile_columns=("SubTotal",),
)
CUSTOMERS = TableSource("dbo", "Customer", ExtractionMode.CDC, key_columns=("CustomerID",), split_column="CustomerID")
DAY1, DAY2, DAY3 = (dt.datetime(2024, 3, d) for d in (1, 2, 3))


def _change_keys(df) -> list[tuple]:
    rows = df.orderBy(*CDC_ORDER).select(*CDC_ORDER).collect()
    return [(bytes(r[0]), bytes(r[1]), r[2]) for r in rows]


def _source_changes(path, where: str, params: list) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            'SELECT ct."__$start_lsn", ct."__$seqval", ct."__$operation" FROM cdc."Sales_SalesOrderHeader_CT" ct '
            'JOIN cdc.lsn_time_mapping m ON m.start_lsn = ct."__$start_lsn" '
            f"WHERE {where} ORDER BY 1, 2, 3",
            params,
        ).fetchall()
    return [(bytes(a), bytes(b), c) for a, b, c in rows]


def _lsns(path) -> list[bytes]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute('SELECT DISTINCT "__$start_lsn" FROM cdc."Sales_SalesOrderHeader_CT" ORDER BY 1').fetchall()
    return [bytes(r[0]) for r in rows]


def test_an_lsn_range_returns_each_change_once_in_commit_order(spark, seeded_demo):
    path = erp_path(seeded_demo)
    with duckdb.connect(str(path), read_only=True) as con:
        from_lsn, to_lsn = (
            bytes(v)
            for v in con.execute(
                "SELECT min(start_lsn), max(start_lsn) FROM cdc.lsn_time_mapping WHERE tran_end_time >= ?", [DAY2]
            ).fetchone()
        )
        expected = [
            (bytes(a), bytes(b), c)
            for a, b, c in con.execute(
                'SELECT "__$start_lsn", "__$seqval", "__$operation" FROM cdc."dbo_Customer_CT" '
                'WHERE "__$start_lsn" BETWEEN ? AND ? ORDER BY 1, 2, 3',
                [from_lsn, to_lsn],
            ).fetchall()
        ]
    source = MssqlSource.demo(path, LakehouseSettings(), target_rows_per_partition=5, max_partitions=3)

    extraction = source.extract(spark, CUSTOMERS, from_lsn=format_lsn(from_lsn), to_lsn=to_lsn)

    got = _change_keys(extraction.df)
    assert got == expected  # same rows, none twice, none missing, across 3 parallel reads
    assert extraction.num_partitions == 3
    assert {op for _, _, op in got} == {1, 2, 3, 4}  # deletes, inserts, both update images
    updates = extraction.df.filter("`__$operation` IN (3, 4)").groupBy("`__$start_lsn`", "`__$seqval`").count()
    assert {r["count"] for r in updates.collect()} == {2}  # before and after image together
    assert extraction.next_position == format_lsn((int.from_bytes(to_lsn, "big") + 1).to_bytes(10, "big"))


def test_the_commit_time_is_joined_in(spark, seeded_demo):
    path = erp_path(seeded_demo)
    lsn = _lsns(path)[10]
    df = MssqlSource.demo(path, LakehouseSettings()).extract(spark, HEADERS, from_lsn=lsn, to_lsn=lsn).df
    with duckdb.connect(str(path), read_only=True) as con:
        (committed,) = con.execute(
            "SELECT tran_end_time FROM cdc.lsn_time_mapping WHERE start_lsn = ?", [lsn]
        ).fetchone()
    assert {r[CDC_COMMIT_TIME] for r in df.collect()} == {committed}


def test_consecutive_time_windows_split_the_changes_without_overlap(spark, seeded_demo):
    path = erp_path(seeded_demo)
    source = MssqlSource.demo(path, LakehouseSettings())
    noon = dt.datetime(2024, 3, 2, 12)

    morning = _change_keys(source.extract(spark, HEADERS, window=(DAY2, noon)).df)
    afternoon = _change_keys(source.extract(spark, HEADERS, window=(noon, DAY3)).df)
    whole_day = _change_keys(source.extract(spark, HEADERS, window=(DAY2, DAY3)).df)

    assert morning and afternoon
    assert morning + afternoon == whole_day
    assert whole_day == _source_changes(path, "m.tran_end_time >= ? AND m.tran_end_time < ?", [DAY2, DAY3])


def test_a_window_past_what_was_captured_is_refused(spark, seeded_demo):
    source = MssqlSource.demo(erp_path(seeded_demo), LakehouseSettings())
    with pytest.raises(ChangeWindowNotClosedError, match="Sales_SalesOrderHeader"):
        source.extract(spark, HEADERS, window=(DAY3, DAY3 + dt.timedelta(days=1)))


def test_an_expired_position_fails_and_names_the_capture_instance(spark, demo_dir):
    path = erp_path(demo_dir)
    old_lsn = _lsns(path)[5]
    cleanup_cdc(demo_dir, "Sales_SalesOrderHeader", DAY2)  # retention removed day 1
    source = MssqlSource.demo(path, LakehouseSettings())

    with pytest.raises(CdcPositionExpiredError) as by_lsn:
        source.extract(spark, HEADERS, from_lsn=old_lsn)
    with pytest.raises(CdcPositionExpiredError) as by_window:
        source.extract(spark, HEADERS, window=(DAY1, DAY2))
    for err in (by_lsn, by_window):
        message = str(err.value)
        assert "Sales_SalesOrderHeader" in message and "Sales.SalesOrderHeader" in message
        assert "full refresh" in message and "full_refresh=True" in message

    # What is still kept reads fine, and a full refresh gives a position that is valid.
    assert source.extract(spark, HEADERS, window=(DAY2, DAY3)).source_row_count > 0
    refresh = source.extract(spark, HEADERS, full_refresh=True)
    assert refresh.df.count() == refresh.source_row_count > 0
    resumed = source.extract(spark, HEADERS, from_lsn=refresh.next_position)
    assert resumed.df.count() == 0
