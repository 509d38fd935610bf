"""The pure transforms on generated change streams, against the plain-Python oracle."""

import datetime as dt
import random

import dagster as dg
import pytest
from deltalake import DeltaTable

from mssql_lakehouse.defs.customer_360.common import HISTORY
from mssql_lakehouse.defs.customer_360.silver import customers_history_and_customers
from mssql_lakehouse.lib.transforms.customer_changes import (
    DECLARED_SQL_TYPES,
    business_columns,
    events_from_pairs,
    first_delivery,
    invalid_reason,
    silver_events,
    sqlserver_pairs,
)
from mssql_lakehouse.lib.transforms.debezium import debezium_pairs, field_report, parse_envelopes
from mssql_lakehouse.lib.transforms.scd import history_of, scd1_from_history, scd2_history, touched_keys
from mssql_lakehouse_demo.debezium_export import Encoding
from mssql_lakehouse_tests.customer_360.change_streams import (
    CURRENT_COLUMNS,
    HISTORY_COLUMNS,
    SQLSERVER_SCHEMA,
    at_least_once,
    debezium_lines,
    generate,
    oracle,
    rows,
    sqlserver_rows,
)

DAYS = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(4)]
DEFAULT_ENCODING = Encoding()


def bronze_from_sqlserver(spark, transactions):
    raw = spark.createDataFrame(sqlserver_rows(transactions), SQLSERVER_SCHEMA)
    return first_delivery(events_from_pairs(sqlserver_pairs(raw, "erp"), "sqlserver"))


def bronze_from_debezium(spark, lines, encoding=DEFAULT_ENCODING):
    from mssql_lakehouse.lib.transforms.debezium import DebeziumEncoding

    parsed = parse_envelopes(
        spark.createDataFrame(
            [(line, f"f{i % 3}.json") for i, line in enumerate(lines)], "value string, _source string"
        )
    )
    events = parsed.where("op IS NOT NULL")
    report = field_report(
        events, DECLARED_SQL_TYPES, DebeziumEncoding(encoding.time_precision_mode, encoding.decimal_handling_mode)
    )
    return first_delivery(events_from_pairs(debezium_pairs(events, report, "UTC"), "debezium"))


def history_from_bronze(bronze):
    events = silver_events(bronze)
    return scd2_history(events, "customer_id", business_columns(bronze))


@pytest.mark.parametrize("seed", [1, 2])
def test_sqlserver_feed_history_equals_the_oracle(spark, seed):
    stream = generate(seed, DAYS)
    bronze = bronze_from_sqlserver(spark, stream)
    assert bronze.where(invalid_reason().isNotNull()).count() == 0
    history = history_from_bronze(bronze)
    expected_history, expected_current = oracle(stream)
    assert rows(history, HISTORY_COLUMNS) == expected_history
    assert rows(history.where("is_current"), CURRENT_COLUMNS) == expected_current


@pytest.mark.parametrize(
    ("seed", "encoding", "with_schema"),
    [
        (4, Encoding("adaptive", "precise"), True),
        (5, Encoding("adaptive", "precise"), False),
        (6, Encoding("adaptive", "string"), False),
        (7, Encoding("adaptive", "double"), True),
    ],
)
def test_debezium_feed_with_duplicates_and_tombstones_equals_the_oracle(spark, seed, encoding, with_schema):
    stream = generate(seed, DAYS)
    lines = at_least_once(debezium_lines(stream, encoding=encoding, with_schema=with_schema), random.Random(seed))
    history = history_from_bronze(bronze_from_debezium(spark, lines, encoding))
    expected_history, _ = oracle(stream)
    if encoding.decimal_handling_mode == "double":
        # A double carries ~15 significant digits: compare with the oracle's values rounded the same way.
        expected_history = [_through_double(r) for r in expected_history]
    assert rows(history, HISTORY_COLUMNS) == expected_history


def _through_double(row):
    from decimal import Decimal

    credit = row[6]
    return (*row[:6], None if credit is None else Decimal(float(credit)).quantize(Decimal("0.0001")), *row[7:])


def test_connect_time_precision_keeps_milliseconds(spark):
    stream = generate(8, DAYS, millisecond_values=True)
    lines = debezium_lines(stream, encoding=Encoding("connect", "precise"), with_schema=False)
    history = history_from_bronze(bronze_from_debezium(spark, lines, Encoding("connect", "precise")))
    assert rows(history, HISTORY_COLUMNS) == oracle(stream)[0]


def test_both_feeds_give_the_same_bronze_positions_and_images(spark):
    stream = generate(9, DAYS)
    columns = [
        "change_position",
        "operation",
        "commit_time",
        "CustomerID",
        "FirstName",
        "LastName",
        "Email",
        "City",
        "CountryRegion",
        "CreditLimit",
        "ModifiedDate",
        "before_image",
    ]
    from_sqlserver = rows(bronze_from_sqlserver(spark, stream), columns)
    from_debezium = rows(bronze_from_debezium(spark, debezium_lines(stream)), columns)
    assert from_sqlserver == from_debezium


def write_history(rewritten, resources) -> None:
    """Write a recomputed history as the silver asset does: its output's metadata, through the IO manager."""

    @dg.asset(key=HISTORY, metadata=dict(customers_history_and_customers.specs_by_key[HISTORY].metadata))
    def customers_history():
        return rewritten

    assert dg.materialize([customers_history], resources=resources).success


def test_recomputing_touched_keys_in_any_order_converges_to_the_oracle(spark, lakehouse_home, local_resources):
    """Batches written through the IO manager, shuffled and replayed, give the commit-order result."""
    stream = generate(10, DAYS, per_day=8)
    bronze_all = bronze_from_sqlserver(spark, stream).localCheckpoint()
    events_all = silver_events(bronze_all)
    columns = business_columns(bronze_all)
    order = [*list(DAYS), DAYS[1], DAYS[0]]
    random.Random(10).shuffle(order)
    landed_days: set = set()
    for day in order:
        landed_days.add(day)
        landed = events_all.where(events_all.commit_time.cast("date").isin(sorted(landed_days)))
        keys = touched_keys(landed.where(landed.commit_time.cast("date") == day), "customer_id")
        rewritten = history_of(landed, keys, "customer_id", columns).localCheckpoint()
        write_history(rewritten, local_resources)
        current = scd1_from_history(rewritten, keys, "customer_id", columns)
        assert current.where("is_deleted").join(rewritten.where("is_current"), "customer_id").count() == 0
    expected_history, _ = oracle(stream)
    history = DeltaTable(str(lakehouse_home / "tables" / "silver" / "customers_history")).to_pyarrow_table()
    written = [tuple(r[c] for c in HISTORY_COLUMNS) for r in history.to_pylist()]
    assert sorted(written, key=lambda r: tuple((x is None, str(x)) for x in r)) == expected_history


def test_snapshot_reads_open_a_version_only_when_they_change_something(spark):
    t = [dt.datetime(2026, 3, 1, h) for h in range(6)]
    events = spark.createDataFrame(
        [
            # key 1: created, re-read unchanged (nothing), re-read with a value CDC missed (new version)
            ("A1", "A1.1", "c", t[0], 1, "x"),
            ("A2", "A2.1", "r", t[1], 1, "x"),
            ("A3", "A3.1", "r", t[2], 1, "y"),
            # key 2: first seen by a snapshot, deleted, read again (the read re-opens it)
            ("A1", "A1.2", "r", t[0], 2, "p"),
            ("A4", "A4.1", "d", t[3], 2, "p"),
            ("A5", "A5.1", "r", t[4], 2, "p"),
        ],
        "commit_lsn string, change_position string, operation string, commit_time timestamp_ntz, "
        "customer_id int, name string",
    )
    history = scd2_history(events, "customer_id", ["customer_id", "name"])
    got = sorted(tuple(r) for r in history.select("customer_id", "name", "valid_from", "valid_to").collect())
    assert got == [(1, "x", t[0], t[2]), (1, "y", t[2], None), (2, "p", t[0], t[3]), (2, "p", t[4], None)]
