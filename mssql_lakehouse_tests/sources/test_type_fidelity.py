"""The values that break other tools land in Spark exactly (demo engine, real JDBC read)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import duckdb
import pytest
from pyspark.sql import functions as F

from mssql_lakehouse.lib.io.compilation import COMPILE_ABOVE_ROWS
from mssql_lakehouse.lib.sources import MssqlSource, TableSource, UnsupportedTypeError
from mssql_lakehouse.settings import LakehouseSettings

LONG_TEXT = "a😀" * 5000  # 10,000 characters, 25,000 UTF-8 bytes, 4-byte characters throughout


@pytest.fixture
def showcase(tmp_path):
    """A type-showcase table in the demo's types (the SQL Server type each stands for in comments)."""
    path = tmp_path / "types.duckdb"
    con = duckdb.connect(str(path))
    con.execute('CREATE SCHEMA "dbo"')
    con.execute(
        """CREATE TABLE dbo."TypeShowcase" (
            id INTEGER,                 -- int
            d2_7 TIMESTAMP_NS,          -- datetime2(7) with a 7th digit
            d2 TIMESTAMP,               -- datetime2
            d DATE,                     -- date
            dto TIMESTAMPTZ,            -- datetimeoffset
            m DECIMAL(19,4),            -- money
            sm DECIMAL(10,4),           -- smallmoney
            u UUID,                     -- uniqueidentifier
            rv BIGINT,                  -- rowversion (as the demo stores it)
            ti UTINYINT,                -- tinyint
            b BOOLEAN,                  -- bit
            nv VARCHAR,                 -- nvarchar(max)
            vb BLOB,                    -- varbinary(max)
            t TIME                      -- time
        )"""
    )
    con.execute(
        """INSERT INTO dbo."TypeShowcase" VALUES
        (1, TIMESTAMP_NS '2024-01-01 00:00:00.1234567', TIMESTAMP '9999-12-31 23:59:59.999999', DATE '9999-12-31',
         TIMESTAMPTZ '2024-06-30 23:30:00-07:00', 922337203685477.5807, 214748.3647,
         'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 9223372036854775807, 255, NULL, ?, '\\x00\\xFF'::BLOB,
         TIME '23:59:59.999999'),
        (2, TIMESTAMP_NS '2024-01-01 00:00:00.9999999', TIMESTAMP '0001-01-01 00:00:00', DATE '0001-01-01',
         NULL, -922337203685477.5808, -214748.3648, NULL, 1, 0, true, '', NULL, NULL),
        (3, NULL, NULL, NULL, NULL, 0.1, 0.2, NULL, NULL, NULL, false, NULL, NULL, NULL)""",
        [LONG_TEXT],
    )
    con.close()
    return path


@pytest.fixture(params=["interpreted", "compiled"])
def counted_rows(request) -> int:
    """The row count the source is said to have counted: a large extraction runs with compiled
    expressions (the local default tuning interprets them), and must land the same values."""
    return COMPILE_ABOVE_ROWS + 1 if request.param == "compiled" else 3


def test_type_mapping_lands_exact_values(spark, showcase, counted_rows):
    source = MssqlSource.demo(showcase, LakehouseSettings())
    extraction = source.extract(spark, TableSource("dbo", "TypeShowcase"))
    counted = replace(extraction, source_figures=replace(extraction.source_figures, row_count=counted_rows))
    with counted.compiled_if_large(spark) as compiled:
        assert compiled is (counted_rows > COMPILE_ABOVE_ROWS)
        df = extraction.df.localCheckpoint()  # as a bronze asset lands it, inside the block
    types = dict(df.dtypes)
    assert types == {
        "id": "int",
        "d2_7": "timestamp_ntz",
        "d2": "timestamp_ntz",
        "d": "date",
        "dto": "timestamp",
        "dto_offset_minutes": "int",
        "m": "decimal(19,4)",
        "sm": "decimal(10,4)",
        "u": "string",
        "rv": "bigint",
        "ti": "smallint",
        "b": "boolean",
        "nv": "string",
        "vb": "binary",
        "t": "string",
    }
    rows = {r["id"]: r for r in df.withColumn("dto_us", F.unix_micros("dto")).collect()}
    one, two, three = rows[1], rows[2], rows[3]

    # datetime2(7): the 7th digit is truncated, never rounded up (not .123457, not the next second).
    assert one["d2_7"] == dt.datetime(2024, 1, 1, 0, 0, 0, 123456)
    assert two["d2_7"] == dt.datetime(2024, 1, 1, 0, 0, 0, 999999)
    # The ends of the calendar survive, with no time-zone shift.
    assert one["d2"] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
    assert two["d2"] == dt.datetime(1, 1, 1)
    assert one["d"] == dt.date(9999, 12, 31) and two["d"] == dt.date(1, 1, 1)
    # datetimeoffset: the instant, in UTC (23:30 at -07:00 is 06:30 UTC the next day).
    expected_us = int(dt.datetime(2024, 7, 1, 6, 30, tzinfo=dt.UTC).timestamp()) * 1_000_000
    assert one["dto_us"] == expected_us
    assert one["dto_offset_minutes"] == 0  # DuckDB keeps the instant only (documented)
    assert two["dto"] is None and two["dto_offset_minutes"] is None
    # money / smallmoney: cent-exact decimals at both ends of their ranges.
    assert one["m"] == Decimal("922337203685477.5807") and two["m"] == Decimal("-922337203685477.5808")
    assert one["sm"] == Decimal("214748.3647") and two["sm"] == Decimal("-214748.3648")
    assert three["m"] + three["sm"] == Decimal("0.3000")
    # uniqueidentifier: lower-case canonical text.
    assert one["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    # rowversion as bigint, tinyint 255 without wrapping, bit NULL stays NULL.
    assert one["rv"] == 9223372036854775807
    assert one["ti"] == 255
    assert one["b"] is None and two["b"] is True and three["b"] is False
    # nvarchar(max) over 8 KB with 4-byte characters, intact.
    assert one["nv"] == LONG_TEXT and two["nv"] == ""
    assert one["vb"] == bytearray(b"\x00\xff")
    assert one["t"] == "23:59:59.999999"


def test_a_type_without_a_mapping_is_refused_by_name(spark, tmp_path):
    path = tmp_path / "odd.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute('CREATE TABLE main."Odd" (id INTEGER, tags VARCHAR[])')
    with pytest.raises(UnsupportedTypeError, match="tags"):
        MssqlSource.demo(path, LakehouseSettings()).extract(spark, TableSource("main", "Odd"))
