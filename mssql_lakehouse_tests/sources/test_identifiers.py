"""Names from configuration are validated and quoted; hostile names cannot inject SQL."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from mssql_lakehouse.lib.sources import (
    ExtractionMode,
    InvalidIdentifierError,
    MssqlSource,
    TableSource,
)
from mssql_lakehouse.lib.sources.connection import ConnectionSettings
from mssql_lakehouse.lib.sources.dialects import DemoDialect, MssqlDialect
from mssql_lakehouse.lib.sources.identifiers import quote_bracket, quote_double, validate_identifier
from mssql_lakehouse.settings import LakehouseSettings

HOSTILE_SCHEMA = "x]; DROP TABLE y;--"
HOSTILE_TABLE = 'we"ird ta]ble'
HOSTILE_KEY = "x]; DROP TABLE y;--"
SPACED = "name with spaces"
UNICODE = "Ünïcödé_列_😀"
QUESTION = "a?b"
QUOTE = 'it\'s "quoted"'
HOSTILE_WATERMARK = "when?'; DROP TABLE y;--"


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "x" * 129, "tab\there", "new\nline", "nul\x00", "del\x7f", "c1\x85", "sep\u2028"],
)
def test_bad_names_are_refused_with_the_rule(bad):
    with pytest.raises(InvalidIdentifierError) as err:
        validate_identifier(bad, "column")
    assert "column" in str(err.value)


def test_bad_names_fail_when_the_table_spec_is_built():
    with pytest.raises(InvalidIdentifierError):
        TableSource("Sales", "Orders\n", ExtractionMode.SNAPSHOT)
    with pytest.raises(InvalidIdentifierError):
        TableSource("Sales", "Orders", ExtractionMode.WATERMARK, watermark_column="x" * 200)


def test_128_characters_and_any_printable_unicode_are_allowed():
    assert validate_identifier("x" * 128) == "x" * 128
    assert validate_identifier(UNICODE) == UNICODE


def test_quoting_doubles_the_closing_delimiter():
    assert quote_bracket(HOSTILE_KEY) == "[x]]; DROP TABLE y;--]"
    assert quote_double(HOSTILE_TABLE) == '"we""ird ta]ble"'
    assert quote_bracket("a[b") == "[a[b]"
    mssql = MssqlDialect(ConnectionSettings("mssql", "erp", server="db", user="u", password="p"))
    assert mssql.table(HOSTILE_SCHEMA, "t") == "[x]]; DROP TABLE y;--].[t]"


def test_values_are_never_written_as_text():
    demo = DemoDialect(ConnectionSettings("demo", "erp", demo_path="/tmp/x.duckdb"))
    with pytest.raises(TypeError):
        demo.literal("2024-01-01'; DROP TABLE y;--")
    assert demo.literal(dt.datetime(2024, 1, 2, 3, 4, 5, 6)) == "TIMESTAMP '2024-01-02 03:04:05.000006'"
    assert demo.literal(b"\x00\xff") == "unhex('00FF')"
    with pytest.raises(ValueError):
        demo.literal(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))


@pytest.fixture
def hostile_db(tmp_path):
    """A demo file with a table whose every name is hostile, and a bystander table y."""
    path = tmp_path / "hostile.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE y (id INTEGER)")
    con.execute("INSERT INTO y VALUES (1)")
    con.execute(f"CREATE SCHEMA {quote_double(HOSTILE_SCHEMA)}")
    con.execute(
        f"CREATE TABLE {quote_double(HOSTILE_SCHEMA)}.{quote_double(HOSTILE_TABLE)} ("
        f"{quote_double(HOSTILE_KEY)} INTEGER, {quote_double(SPACED)} VARCHAR, {quote_double(UNICODE)} DECIMAL(19,4), "
        f"{quote_double(QUESTION)} INTEGER, {quote_double(QUOTE)} VARCHAR, {quote_double(HOSTILE_WATERMARK)} TIMESTAMP)"
    )
    con.execute(
        f"INSERT INTO {quote_double(HOSTILE_SCHEMA)}.{quote_double(HOSTILE_TABLE)} "
        "SELECT i, 'row ' || i, i * 1.25, i % 3, '''; --', TIMESTAMP '2024-01-01' + to_hours(i) FROM range(1, 49) r(i)"
    )
    con.close()
    return path


def test_hostile_names_are_read_through_quoting(spark, hostile_db):
    source = MssqlSource.demo(hostile_db, LakehouseSettings(), target_rows_per_partition=3, max_partitions=3)
    table = TableSource(
        HOSTILE_SCHEMA,
        HOSTILE_TABLE,
        ExtractionMode.WATERMARK,
        key_columns=(HOSTILE_KEY,),
        watermark_column=HOSTILE_WATERMARK,
        split_column=HOSTILE_KEY,
        reconcile_columns=(UNICODE,),
    )
    extraction = source.extract(spark, table, window=(dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 1, 1, 20)))
    rows = extraction.df.orderBy(HOSTILE_KEY).collect()

    # Hours 10..19 of the day: keys 10..19, each once, across parallel partitions.
    assert extraction.num_partitions > 1
    assert [r[HOSTILE_KEY] for r in rows] == list(range(10, 20))
    assert extraction.df.columns == [HOSTILE_KEY, SPACED, UNICODE, QUESTION, QUOTE, HOSTILE_WATERMARK]
    assert rows[0][SPACED] == "row 10" and rows[0][QUOTE] == "'; --"
    assert extraction.source_figures.sums[UNICODE] == sum(r[UNICODE] for r in rows)
    # The bystander table is untouched.
    with duckdb.connect(str(hostile_db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM y").fetchone() == (1,)
