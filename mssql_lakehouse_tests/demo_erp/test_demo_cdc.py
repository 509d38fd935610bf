"""CDC in SQL Server's layout: LSN order, update pairs, time mapping, masks, replay, cleanup."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from mssql_lakehouse_demo import (
    CDC_INSTANCES,
    cleanup_cdc,
    decode_update_mask,
    erp_path,
    increment_lsn,
    seed,
)

from ._helpers import SCALE, SEEDED_DAYS, START, rows, scalar

CHANGE_TABLES = [ci.change_table for ci in CDC_INSTANCES]


def _changes(con: duckdb.DuckDBPyConnection, change_table: str) -> list[dict]:
    return rows(con, f'SELECT * FROM {change_table} ORDER BY "__$start_lsn", "__$seqval", "__$operation"')


def test_commit_lsns_grow_strictly_with_commit_time(erp: duckdb.DuckDBPyConnection) -> None:
    mapping = rows(erp, "SELECT * FROM cdc.lsn_time_mapping ORDER BY start_lsn")
    lsns = [bytes(m["start_lsn"]) for m in mapping]
    assert all(len(x) == 10 for x in lsns)
    assert len(set(lsns)) == len(lsns)
    ends = [m["tran_end_time"] for m in mapping]
    assert ends == sorted(ends)
    for m in mapping:
        assert bytes(m["tran_begin_lsn"]) < bytes(m["start_lsn"])
        assert m["tran_begin_time"] <= m["tran_end_time"]
        # Each transaction lies inside one simulated day.
        assert m["tran_begin_time"].date() == m["tran_end_time"].date()
        assert m["tran_end_time"].date() in SEEDED_DAYS


@pytest.mark.parametrize("ci", CDC_INSTANCES, ids=lambda ci: ci.name)
def test_every_change_lsn_is_mapped_to_a_time_inside_its_day(erp: duckdb.DuckDBPyConnection, ci) -> None:
    unmapped = scalar(
        erp,
        f'SELECT count(*) FROM {ci.change_table} c ANTI JOIN cdc.lsn_time_mapping m ON m.start_lsn = c."__$start_lsn"',
    )
    assert unmapped == 0
    # The row's ModifiedDate (set by the application in the transaction) is on the commit's day,
    # except a re-insert of a just-deleted customer, which carries the old values unchanged.
    (pk,) = ci.table.primary_key
    off_day = scalar(
        erp,
        f"""SELECT count(*) FROM {ci.change_table} c JOIN cdc.lsn_time_mapping m ON m.start_lsn = c."__$start_lsn"
            WHERE c."__$operation" IN (2, 4) AND CAST(c.ModifiedDate AS DATE) <> CAST(m.tran_end_time AS DATE)
              AND NOT EXISTS (SELECT 1 FROM {ci.change_table} d
                              WHERE d."__$start_lsn" = c."__$start_lsn" AND d."{pk}" = c."{pk}"
                                AND d."__$operation" = 1)""",
    )
    assert off_day == 0


@pytest.mark.parametrize("change_table", CHANGE_TABLES)
def test_changes_of_a_transaction_share_the_commit_lsn_with_increasing_seqval(
    erp: duckdb.DuckDBPyConnection, change_table: str
) -> None:
    changes = _changes(erp, change_table)
    for c in changes:
        start, seqval = bytes(c["__$start_lsn"]), bytes(c["__$seqval"])
        assert len(seqval) == 10 and c["__$end_lsn"] is None
        assert seqval[:8] == start[:8] and seqval < start  # same transaction, before its commit
    multi = scalar(
        erp,
        f'SELECT count(*) FROM (SELECT "__$start_lsn" FROM {change_table} '
        'GROUP BY 1 HAVING count(DISTINCT "__$seqval") > 1)',
    )
    assert multi > 0


@pytest.mark.parametrize("change_table", CHANGE_TABLES)
def test_an_update_is_a_before_and_after_pair(erp: duckdb.DuckDBPyConnection, change_table: str) -> None:
    groups = rows(
        erp,
        f"""SELECT "__$start_lsn", "__$seqval", list("__$operation" ORDER BY "__$operation") AS ops,
                   count(DISTINCT "__$command_id") AS command_ids, count(DISTINCT "__$update_mask") AS masks
            FROM {change_table} GROUP BY 1, 2""",
    )
    assert {tuple(g["ops"]) for g in groups} <= {(1,), (2,), (3, 4)}
    assert any(tuple(g["ops"]) == (3, 4) for g in groups)
    assert all(g["command_ids"] == 1 and g["masks"] == 1 for g in groups)


@pytest.mark.parametrize("ci", CDC_INSTANCES, ids=lambda ci: ci.name)
def test_update_masks_mark_exactly_the_changed_columns(erp: duckdb.DuckDBPyConnection, ci) -> None:
    columns = ci.table.column_names
    changes = _changes(erp, ci.change_table)
    before = {}
    for c in changes:
        mask = bytes(c["__$update_mask"])
        assert len(mask) == (len(columns) + 7) // 8
        if c["__$operation"] in (1, 2):
            assert decode_update_mask(mask, columns) == columns
        elif c["__$operation"] == 3:
            before[(bytes(c["__$start_lsn"]), bytes(c["__$seqval"]))] = c
        else:
            b = before.pop((bytes(c["__$start_lsn"]), bytes(c["__$seqval"])))
            changed = [col for col in columns if b[col] != c[col]]
            assert decode_update_mask(mask, columns) == changed
            assert "ModifiedDate" in changed


def test_update_mask_byte_order_is_sql_servers() -> None:
    # 13 columns -> 2 bytes; ordinal 1 is the lowest bit of the LAST byte, ordinal 9 of the first.
    cols = [f"c{i}" for i in range(1, 14)]
    assert decode_update_mask(bytes([0x00, 0x01]), cols) == ["c1"]
    assert decode_update_mask(bytes([0x01, 0x00]), cols) == ["c9"]
    assert decode_update_mask(bytes([0x10, 0x20]), cols) == ["c6", "c13"]


@pytest.mark.parametrize("ci", CDC_INSTANCES, ids=lambda ci: ci.name)
def test_replaying_the_changes_reproduces_the_table(erp: duckdb.DuckDBPyConnection, ci) -> None:
    """Each before-image is the previous after-image, and the last image is the row in the table."""
    (pk,) = ci.table.primary_key
    columns = ci.table.column_names
    state: dict = {}
    for c in _changes(erp, ci.change_table):
        image = {k: c[k] for k in columns}
        key = image[pk]
        op = c["__$operation"]
        if op == 2:
            assert state.get(key) is None, f"insert of existing key {key}"
            state[key] = image
        elif op in (1, 3):
            if key in state:
                assert state[key] == image, f"before-image of {key} differs from its last after-image"
            state[key] = None if op == 1 else image
        else:
            state[key] = image
    actual = {r[pk]: r for r in rows(erp, f"SELECT * FROM {ci.table.qualified}")}
    for key, image in state.items():
        assert actual.get(key) == image
    if ci.table.schema == "Sales":
        # The Sales tables started empty with CDC on, so CDC holds their whole history.
        assert set(actual) == {k for k, v in state.items() if v is not None}


def test_change_tables_metadata_mirrors_sql_server(erp: duckdb.DuckDBPyConnection) -> None:
    tables = rows(erp, "SELECT * FROM cdc.change_tables ORDER BY capture_instance")
    assert [t["capture_instance"] for t in tables] == [
        "Sales_SalesOrderDetail",
        "Sales_SalesOrderHeader",
        "dbo_Customer",
    ]
    for t in tables:
        first = scalar(erp, f'SELECT min("__$start_lsn") FROM "cdc"."{t["capture_instance"]}_CT"')
        assert bytes(t["start_lsn"]) <= bytes(first)
        ordinals = rows(
            erp,
            "SELECT column_name, column_ordinal FROM cdc.captured_columns WHERE object_id = ? ORDER BY column_ordinal",
            [t["object_id"]],
        )
        ci = next(c for c in CDC_INSTANCES if c.name == t["capture_instance"])
        assert [o["column_name"] for o in ordinals] == ci.table.column_names


def test_cleanup_raises_the_minimum_lsn_and_expires_older_positions(tmp_path: Path) -> None:
    seed(tmp_path, START, 3, SCALE)
    day2 = dt.datetime.combine(START + dt.timedelta(days=1), dt.time())
    with duckdb.connect(str(erp_path(tmp_path)), read_only=True) as con:
        first_of_day2 = bytes(
            scalar(con, "SELECT min(start_lsn) FROM cdc.lsn_time_mapping WHERE tran_end_time >= ?", [day2])
        )
        a_day1_position = bytes(scalar(con, 'SELECT min("__$start_lsn") FROM cdc."Sales_SalesOrderDetail_CT"'))
        customer_rows = scalar(con, 'SELECT count(*) FROM cdc."dbo_Customer_CT"')

    new_low = cleanup_cdc(tmp_path, "Sales_SalesOrderDetail", day2)

    assert new_low == first_of_day2
    assert a_day1_position < new_low  # a reader that stopped on day 1 must now re-snapshot
    with duckdb.connect(str(erp_path(tmp_path)), read_only=True) as con:
        assert (
            bytes(
                scalar(con, "SELECT start_lsn FROM cdc.change_tables WHERE capture_instance = 'Sales_SalesOrderDetail'")
            )
            == new_low
        )
        assert bytes(scalar(con, 'SELECT min("__$start_lsn") FROM cdc."Sales_SalesOrderDetail_CT"')) >= new_low
        # Other capture instances keep their history, and so the time mapping they need.
        assert scalar(con, 'SELECT count(*) FROM cdc."dbo_Customer_CT"') == customer_rows
        assert (
            scalar(
                con,
                'SELECT count(*) FROM cdc."dbo_Customer_CT" c '
                'ANTI JOIN cdc.lsn_time_mapping m ON m.start_lsn = c."__$start_lsn"',
            )
            == 0
        )

    # Cleanup never lowers the minimum; past the last change it points just after it.
    assert cleanup_cdc(tmp_path, "Sales_SalesOrderDetail", day2 - dt.timedelta(days=1)) == new_low
    everything = cleanup_cdc(tmp_path, "Sales_SalesOrderDetail", dt.datetime(2100, 1, 1))
    with duckdb.connect(str(erp_path(tmp_path)), read_only=True) as con:
        last = bytes(scalar(con, "SELECT max(start_lsn) FROM cdc.lsn_time_mapping"))
        assert scalar(con, 'SELECT count(*) FROM cdc."Sales_SalesOrderDetail_CT"') == 0
    assert everything == increment_lsn(last)


def test_cleanup_of_an_unknown_capture_instance_is_refused(tmp_path: Path) -> None:
    seed(tmp_path, START, 1, SCALE)
    with pytest.raises(ValueError, match="unknown capture instance"):
        cleanup_cdc(tmp_path, "Sales_Nope", dt.datetime(2024, 3, 2))
