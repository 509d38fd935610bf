"""Decoding Debezium's value encodings and envelopes, against values computed in plain Python."""

import base64
import datetime as dt
import json
import random
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from mssql_lakehouse.lib.transforms.change_positions import (
    change_position_text,
    debezium_lsn,
    lsn_text,
)
from mssql_lakehouse.lib.transforms.debezium import (
    DebeziumEncoding,
    FieldCodec,
    codec_for_sql_type,
    commit_time_of_events,
    decimal_from_base64,
    event_commit_dates,
    field_report,
    parse_envelopes,
)
from mssql_lakehouse_demo.debezium_export import Column, Encoding, decimal_bytes, encode_value


def test_decimal_bytes_match_javas_big_integer_encoding():
    # BigInteger.valueOf(unscaled).toByteArray(), base64: minimal two's complement, big-endian.
    assert decimal_bytes(Decimal("1234.5600"), 4) == base64.b64encode(bytes([0x00, 0xBC, 0x61, 0x00])).decode()
    assert decimal_bytes(Decimal("-0.0128"), 4) == base64.b64encode(bytes([0x80])).decode()
    assert decimal_bytes(Decimal("0.0128"), 4) == base64.b64encode(bytes([0x00, 0x80])).decode()
    assert decimal_bytes(Decimal("0"), 4) == "AA=="


def test_base64_decimals_decode_exactly(spark):
    rng = random.Random(11)
    values = [Decimal(0), Decimal("-0.0001"), Decimal("922337203685477.5807"), Decimal("-922337203685477.5808")]
    values += [Decimal(rng.randrange(-(10**15), 10**15)).scaleb(-4) for _ in range(200)]
    df = spark.createDataFrame([(decimal_bytes(v, 4), str(v)) for v in values], "raw string, expected string")
    decoded = df.select(decimal_from_base64(F.col("raw"), 4).cast("decimal(19,4)").alias("v"), "expected").collect()
    assert [r["v"] for r in decoded] == [Decimal(r["expected"]) for r in decoded]


def test_wall_clock_encodings_decode_to_the_same_timestamp(spark):
    moments = [
        dt.datetime(2026, 3, 1, 12, 0, 0, 123456),
        dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        dt.datetime(1900, 1, 1),
    ]
    adaptive = Encoding("adaptive", "precise")
    for sql_type in ("datetime2(7)", "datetime2(6)", "datetime2(3)", "datetime"):
        codec = codec_for_sql_type(sql_type, DebeziumEncoding("adaptive", "precise"))
        raw = [(str(encode_value(m, Column("x", sql_type), adaptive)),) for m in moments]
        got = [r[0] for r in spark.createDataFrame(raw, "v string").select(codec.decode(F.col("v"))).collect()]
        keep_micros = sql_type in ("datetime2(7)", "datetime2(6)")
        expected = [m if keep_micros else m.replace(microsecond=m.microsecond // 1000 * 1000) for m in moments]
        assert got == expected, sql_type


def test_commit_time_is_the_erp_wall_clock(spark):
    # 2026-07-01 03:30 UTC is 2026-06-30 23:30 in New York (EDT): the commit belongs to June 30 there.
    ts_ms = int(dt.datetime(2026, 7, 1, 3, 30, tzinfo=dt.UTC).timestamp() * 1000)
    df = spark.createDataFrame([(ts_ms,)], "ts_ms bigint").select(F.struct("ts_ms").alias("source"))
    got = df.select(commit_time_of_events("America/New_York")).collect()[0][0]
    assert got == dt.datetime(2026, 6, 30, 23, 30)
    line = json.dumps({"op": "c", "source": {"ts_ms": ts_ms}, "after": {}})
    assert event_commit_dates([line, "null", "", "not json"], "America/New_York") == ["2026-06-30"]


def test_lsns_sort_the_same_as_text_and_as_bytes():
    rng = random.Random(12)
    lsns = [bytes(rng.randrange(256) for _ in range(10)) for _ in range(300)]
    assert sorted(lsns) == [bytes.fromhex(t) for t in sorted(lsn_text(b) for b in lsns)]
    assert lsn_text("00000025:00000d98:0025") == "0000002500000D980025" == lsn_text("0x0000002500000D980025")
    assert debezium_lsn("0000002500000D980025") == "00000025:00000d98:0025"
    with pytest.raises(ValueError):
        lsn_text("00000025:0d98:0025")
    # A snapshot read sorts after the changes of its LSN; a delete before the create of a key change.
    commit = "0000002500000D980025"
    assert (
        change_position_text(commit, "0000002500000D980023", 2, "d")
        < change_position_text(commit, "0000002500000D980023", 2, "c")
        < change_position_text(commit, None, None, "r")
    )


def _event(after: dict | None, op="c", with_schema=False, extra_schema=None):
    payload = {
        "before": None,
        "after": after,
        "op": op,
        "source": {
            "commit_lsn": "00000025:00000d98:0025",
            "change_lsn": "00000025:00000d98:0023",
            "event_serial_no": 1,
            "ts_ms": 1_780_000_000_000,
        },
    }
    if not with_schema:
        return json.dumps(payload)
    fields = [{"type": "int32", "optional": False, "field": "CustomerID"}, *(extra_schema or [])]
    schema = {
        "type": "struct",
        "fields": [
            {"type": "struct", "fields": fields, "field": "before"},
            {"type": "struct", "fields": fields, "field": "after"},
        ],
    }
    return json.dumps({"schema": schema, "payload": payload})


def test_tombstones_are_recognised_and_unreadable_lines_are_not_tombstones(spark):
    lines = ["null", "", "   ", '{"schema":{"type":"struct"},"payload":null}', "not json", _event({"CustomerID": 1})]
    parsed = parse_envelopes(spark.createDataFrame([(v,) for v in lines], "value string")).collect()
    assert [r["is_tombstone"] for r in parsed] == [True, True, True, True, False, False]
    assert [r["op"] for r in parsed] == [None, None, None, None, None, "c"]


def test_a_new_field_takes_its_announced_type_or_stays_text(spark):
    declared = {"CustomerID": "int", "CreditLimit": "money"}
    schema_fields = [
        {"type": "int32", "optional": True, "field": "LoyaltyPoints"},
        {"type": "string", "optional": True, "field": "CreditLimit"},
    ]
    lines = [
        _event(
            {"CustomerID": 1, "LoyaltyPoints": 10, "CreditLimit": "12.5000"},
            with_schema=True,
            extra_schema=schema_fields,
        ),
        _event({"CustomerID": 2, "Segment": "gold"}),
    ]
    parsed = parse_envelopes(spark.createDataFrame([(v, "x") for v in lines], "value string, _source string"))
    report = field_report(parsed, declared, DebeziumEncoding())
    assert report.present == ("CustomerID", "CreditLimit", "LoyaltyPoints", "Segment")
    assert report.codecs["LoyaltyPoints"] == FieldCodec("cast", "int")
    assert report.codecs["Segment"].spark_type == "string"
    # decimal.handling.mode=string, announced by the schema: the declared money type keeps its scale.
    assert report.codecs["CreditLimit"] == FieldCodec("cast", "decimal(19,4)", 4)
