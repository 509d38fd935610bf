"""Incremental reads: a datetime2 window [start, end), and rowversion compared as bigint."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import pytest

from mssql_lakehouse.lib.sources import ExtractionMode, MssqlSource, SourceConfigError, TableSource, frame_figures
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_demo import erp_path

UTC = dt.UTC
ORDER_LINES = TableSource(
    "Sales",
    "SalesOrderDetail",
    ExtractionMode.WATERMARK,
    key_columns=("SalesOrderDetailID",),
    watermark_column="ModifiedDate",
    split_column="SalesOrderDetailID",
    reconcile_columns=("UnitPrice", "OrderQty"),
)
HEADERS_BY_ROWVERSION = TableSource(
    "Sales",
    "SalesOrderHeader",
    ExtractionMode.ROWVERSION,
    key_columns=("SalesOrderID",),
    rowversion_column="RowVer",
    split_column="SalesOrderID",
)


def _ids_in_window(path, start: dt.datetime, end: dt.datetime) -> list[int]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            'SELECT "SalesOrderDetailID" FROM "Sales"."SalesOrderDetail" '
            'WHERE "ModifiedDate" >= ? AND "ModifiedDate" < ? ORDER BY 1',
            [start, end],
        ).fetchall()
    return [r[0] for r in rows]


def _line_ids(extraction) -> list[int]:
    return sorted(r[0] for r in extraction.df.select("SalesOrderDetailID").collect())


def _copy_line(path, detail_id: int, new_id: int, modified: dt.datetime) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(
            'INSERT INTO "Sales"."SalesOrderDetail" SELECT * REPLACE (? AS "SalesOrderDetailID", '
            '? AS "ModifiedDate", uuid() AS "rowguid") FROM "Sales"."SalesOrderDetail" WHERE "SalesOrderDetailID" = ?',
            [new_id, modified, detail_id],
        )


def test_a_window_returns_exactly_its_rows_in_parallel_reads(spark, seeded_demo):
    source = MssqlSource.demo(
        erp_path(seeded_demo), LakehouseSettings(), target_rows_per_partition=500, max_partitions=3
    )
    window = dg.TimeWindow(dt.datetime(2024, 3, 1, 6, tzinfo=UTC), dt.datetime(2024, 3, 1, 18, tzinfo=UTC))

    extraction = source.extract(spark, ORDER_LINES, window=window)
    ids = sorted(r[0] for r in extraction.df.select("SalesOrderDetailID").collect())

    expected = _ids_in_window(erp_path(seeded_demo), dt.datetime(2024, 3, 1, 6), dt.datetime(2024, 3, 1, 18))
    assert ids == expected and len(expected) > 1_000
    assert extraction.num_partitions == 3
    assert extraction.source_row_count == len(expected)
    landed = frame_figures(extraction.df, ["SalesOrderDetailID", "UnitPrice", "OrderQty"])
    assert landed.differences(extraction.source_figures) == []


def test_window_is_half_open_and_a_rerun_picks_up_late_rows(spark, demo_dir):
    path = erp_path(demo_dir)
    start, end = dt.datetime(2024, 3, 1, 12), dt.datetime(2024, 3, 1, 13)
    some_line = _ids_in_window(path, start, end)[0]
    _copy_line(path, some_line, 9_000_001, start)  # exactly at start: inside
    _copy_line(path, some_line, 9_000_002, end)  # exactly at end: the next window's
    source = MssqlSource.demo(path, LakehouseSettings())

    first = _line_ids(source.extract(spark, ORDER_LINES, window=(start, end)))
    assert 9_000_001 in first and 9_000_002 not in first
    assert first == _ids_in_window(path, start, end)

    # A row committed later with a ModifiedDate inside the window (late arrival):
    # re-reading the window returns it along with everything before.
    _copy_line(path, some_line, 9_000_003, dt.datetime(2024, 3, 1, 12, 30, 0, 999_999))
    again = _line_ids(source.extract(spark, ORDER_LINES, window=(start, end)))
    assert again == sorted([*first, 9_000_003])

    following = source.extract(spark, ORDER_LINES, window=(end, end + dt.timedelta(hours=1))).df
    assert following.filter("SalesOrderDetailID = 9000002").count() == 1


def test_window_times_are_converted_to_the_source_clock(spark, seeded_demo, monkeypatch):
    # The server writes datetime2 in New York time (the business day's zone): a UTC window is shifted to it.
    monkeypatch.setenv("LAKEHOUSE_ERP_TIMEZONE", "America/New_York")
    source = MssqlSource.demo(erp_path(seeded_demo), LakehouseSettings.from_env())
    window = (dt.datetime(2024, 3, 1, 17, tzinfo=UTC), dt.datetime(2024, 3, 1, 18, tzinfo=UTC))
    extraction = source.extract(spark, ORDER_LINES, window=window)
    assert extraction.lower == dt.datetime(2024, 3, 1, 12)
    ids = sorted(r[0] for r in extraction.df.select("SalesOrderDetailID").collect())
    assert ids == _ids_in_window(erp_path(seeded_demo), dt.datetime(2024, 3, 1, 12), dt.datetime(2024, 3, 1, 13))


def test_rowversion_is_compared_as_bigint(spark, demo_dir):
    path = erp_path(demo_dir)
    with duckdb.connect(str(path)) as con:
        versions = [r[0] for r in con.execute('SELECT "RowVer" FROM "Sales"."SalesOrderHeader" ORDER BY 1').fetchall()]
        assert len(str(versions[0])) == 17
        # A rowversion with one more digit: as text '1000…' sorts before '4986…'; as bytes of
        # a varying-length encoding it would too. As bigint it is the largest.
        big_id = con.execute(
            'UPDATE "Sales"."SalesOrderHeader" SET "RowVer" = 100000000000000000 '
            'WHERE "SalesOrderID" = (SELECT min("SalesOrderID") FROM "Sales"."SalesOrderHeader") '
            'RETURNING "SalesOrderID"'
        ).fetchone()[0]
    since = versions[len(versions) // 2]
    assert since > 2**53  # beyond what a double holds exactly
    source = MssqlSource.demo(path, LakehouseSettings())

    extraction = source.extract(spark, HEADERS_BY_ROWVERSION, since=since)
    got = {r["SalesOrderID"]: r["RowVer"] for r in extraction.df.collect()}

    with duckdb.connect(str(path), read_only=True) as con:
        expected = dict(
            con.execute(
                'SELECT "SalesOrderID", "RowVer" FROM "Sales"."SalesOrderHeader" WHERE "RowVer" >= ?', [since]
            ).fetchall()
        )
    assert big_id in got
    assert got == expected
    assert extraction.next_position == 100000000000000001

    # The next run starts where this one stopped: only rows changed since.
    with duckdb.connect(str(path)) as con:
        con.execute('UPDATE "Sales"."SalesOrderHeader" SET "RowVer" = 100000000000000005 WHERE "SalesOrderID" = 44000')
    after = source.extract(spark, HEADERS_BY_ROWVERSION, since=extraction.next_position)
    assert [r["SalesOrderID"] for r in after.df.collect()] == [44000]


def test_a_mode_refuses_arguments_it_does_not_use(spark, seeded_demo):
    source = MssqlSource.demo(erp_path(seeded_demo), LakehouseSettings())
    with pytest.raises(SourceConfigError, match="takes no since"):
        source.extract(spark, ORDER_LINES, window=(dt.datetime(2024, 3, 1), dt.datetime(2024, 3, 2)), since=5)
    with pytest.raises(SourceConfigError, match="needs a window"):
        source.extract(spark, ORDER_LINES)
