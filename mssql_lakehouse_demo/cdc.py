r"""Change Data Capture and Change Tracking in the demo ERP, laid out as SQL Server lays them out.

Change Data Capture
===================
CDC is enabled on three tables of ``erp.duckdb``; each capture instance is named as
``sys.sp_cdc_enable_table`` names it by default and has a change table in schema ``cdc``:

* ``dbo.Customer``: capture instance ``dbo_Customer``, change table ``cdc."dbo_Customer_CT"``;
* ``Sales.SalesOrderHeader``: ``Sales_SalesOrderHeader``, ``cdc."Sales_SalesOrderHeader_CT"``;
* ``Sales.SalesOrderDetail``: ``Sales_SalesOrderDetail``, ``cdc."Sales_SalesOrderDetail_CT"``.

The Sales tables were empty when CDC was enabled, so their change tables hold their whole
history; ``dbo.Customer`` had its customers already, as a real enablement would (an initial
snapshot plus the changes from ``change_tables.start_lsn`` rebuild it).

A change table's columns are ``__$start_lsn`` (BLOB, 10 bytes: the commit LSN of the
transaction), ``__$end_lsn`` (always NULL, as in SQL Server), ``__$seqval`` (BLOB, 10 bytes:
the order of the change inside its transaction), ``__$operation`` (1 delete, 2 insert,
3 update before-image, 4 update after-image), ``__$update_mask`` (BLOB), then every source
column with its source name and demo type, then ``__$command_id`` (INTEGER, the change's
position in its transaction, 1-based). An update is two rows, 3 then 4, with the same
``__$start_lsn``, ``__$seqval`` and ``__$command_id``. Rows a transaction changed in
several tables share one ``__$start_lsn`` and have increasing ``__$seqval`` across them.

LSNs. 10 bytes big-endian, SQL Server's ``VLF:block:slot`` shape, ``XXXXXXXX:XXXXXXXX:XXXX``:

* bytes 0-3: the day ordinal, days since 1900-01-01 of the simulated day;
* bytes 4-7: the transaction number within that day, 1, 2, ... in commit order;
* bytes 8-9: the slot. Slot 1 is the transaction's begin LSN (``tran_begin_lsn``), slots
  2..n+1 its n changes (``__$seqval``), slot n+2 its commit LSN (``__$start_lsn``).

So LSNs grow strictly with commit order, across days too, and compare bytewise (DuckDB
compares BLOBs bytewise, as SQL Server compares binary(10)). The day ordinal, transaction
number and slot are ``int.from_bytes(lsn[0:4])``, ``[4:8]``, ``[8:10]``.

Update mask. One bit per captured column, by ``cdc.captured_columns.column_ordinal``
(1-based, the column's position in the source table: every column is captured), in SQL
Server's byte order: the mask has ``ceil(n_columns / 8)`` bytes and is read as one
big-endian number whose bit ``ordinal - 1`` is the column's bit, so the LAST byte holds
ordinals 1-8 (its lowest bit is ordinal 1), the byte before it ordinals 9-16, and so on.
Inserts and deletes (operations 2 and 1) set the bit of every column, as SQL Server does;
both rows of an update (3 and 4) set the bits of the columns whose value changed, which
includes ``ModifiedDate`` and ``RowVer`` on every demo update. ``sys.fn_cdc_is_bit_set(p,
__$update_mask)`` is, in DuckDB, ``get_bit(__$update_mask::BIT, 8 * octet_length(__$update_mask)
- p) = 1``; in Python, :func:`decode_update_mask`.

Also in ``cdc``: ``lsn_time_mapping`` (one row per transaction that changed a CDC table:
``start_lsn`` = its commit LSN, ``tran_begin_time`` <= ``tran_end_time``, both inside the
simulated day, ``tran_id`` 10 bytes, ``tran_begin_lsn``), ``change_tables`` (one row per
capture instance; ``start_lsn`` is the low endpoint, the lowest LSN still available, raised
by :func:`cleanup_cdc`; plus ``source_object_id``, ``version``, ``end_lsn``,
``supports_net_changes``, ``has_drop_pending``, ``role_name``, ``index_name``,
``filegroup_name``, ``create_date``, ``partition_switch`` as in SQL Server) and
``captured_columns`` (``object_id``, ``column_name``, ``column_id``, ``column_type`` (the
SQL Server type), ``column_ordinal``, ``is_computed``).

How SQL Server's CDC functions map onto the demo (``?`` is a bound parameter):

* ``sys.fn_cdc_get_min_lsn('ci')``:
  ``SELECT start_lsn FROM cdc.change_tables WHERE capture_instance = ?``
* ``sys.fn_cdc_get_max_lsn()``: ``SELECT max(start_lsn) FROM cdc.lsn_time_mapping``
* ``sys.fn_cdc_map_lsn_to_time(@lsn)``:
  ``SELECT tran_end_time FROM cdc.lsn_time_mapping WHERE start_lsn = ?``
* ``sys.fn_cdc_map_time_to_lsn('largest less than or equal', @t)``:
  ``SELECT max(start_lsn) FROM cdc.lsn_time_mapping WHERE tran_end_time <= ?``
* ``cdc.fn_cdc_get_all_changes_<ci>(@from, @to, N'all')``:
  ``SELECT * FROM cdc."<ci>_CT" WHERE "__$start_lsn" BETWEEN ? AND ? AND "__$operation" <> 3
  ORDER BY "__$start_lsn", "__$seqval", "__$operation"`` (``N'all update old'`` keeps operation 3).

SQL Server refuses ``fn_cdc_get_all_changes`` with a ``@from_lsn`` below the minimum LSN
(error 313); a demo reader must make the same check against ``change_tables.start_lsn``.

Change Tracking
===============
SQL Server keeps Change Tracking in internal tables; the demo keeps it visible in schema
``ct`` of ``erp.duckdb``, for ``Sales.SalesOrderHeader`` and ``Sales.SalesOrderDetail``:

* ``ct."Sales_SalesOrderHeader"`` / ``ct."Sales_SalesOrderDetail"``: a log, one row per row
  change: ``SYS_CHANGE_VERSION`` (BIGINT, the committing transaction's version),
  ``SYS_CHANGE_CREATION_VERSION`` (BIGINT, the version that inserted the key; NULL when that
  insert's log row was cleaned up), ``SYS_CHANGE_OPERATION`` ('I', 'U', 'D'), then the
  primary key columns (``SalesOrderID``, resp. ``SalesOrderDetailID``);
* ``ct.versions(version, commit_time)``: the database-wide version counter, one row per
  committed transaction that changed a tracked table, versions 1, 2, ... in commit order;
* ``ct.min_valid_versions(schema_name, table_name, min_valid_version)``, 0 until a cleanup.

How SQL Server's Change Tracking functions map onto the demo:

* ``CHANGE_TRACKING_CURRENT_VERSION()``: ``SELECT coalesce(max(version), 0) FROM ct.versions``
* ``CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID('Sales.SalesOrderDetail'))``:
  ``SELECT min_valid_version FROM ct.min_valid_versions WHERE schema_name = 'Sales' AND
  table_name = 'SalesOrderDetail'``
* ``CHANGETABLE(CHANGES Sales.SalesOrderDetail, @v)``: ``SELECT * FROM
  ct."CHANGES_Sales_SalesOrderDetail"(?)``, a table macro stored in the file (the same for the
  header), which is::

    SELECT max(SYS_CHANGE_VERSION)                                        AS SYS_CHANGE_VERSION,
           arg_max(SYS_CHANGE_CREATION_VERSION, SYS_CHANGE_VERSION)        AS SYS_CHANGE_CREATION_VERSION,
           CASE WHEN arg_max(SYS_CHANGE_OPERATION, SYS_CHANGE_VERSION) = 'D' THEN 'D'
                WHEN arg_min(SYS_CHANGE_OPERATION, SYS_CHANGE_VERSION) = 'I' THEN 'I'
                ELSE 'U' END                                               AS SYS_CHANGE_OPERATION,
           NULL AS SYS_CHANGE_COLUMNS, NULL AS SYS_CHANGE_CONTEXT, <pk columns>
    FROM ct."Sales_SalesOrderDetail" WHERE SYS_CHANGE_VERSION > @v GROUP BY <pk columns>

That is SQL Server's net change relative to ``@v``: one row per key changed after ``@v``,
'D' if its last change deleted it, 'I' if it did not exist at ``@v`` (inserted after it),
'U' otherwise (a delete and re-insert of the same key after ``@v`` is an update, as SQL
Server reports it). A client whose last synchronised version is below the table's minimum
valid version must re-initialise, as with SQL Server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from mssql_lakehouse_demo import db, schema
from mssql_lakehouse_demo.schema import ct_log_table, ct_table, erp_path

LSN_BYTES = 10
MAX_SLOT = 0xFFFF
DAY_ZERO = dt.date(1900, 1, 1)


def day_ordinal(day: dt.date) -> int:
    """Bytes 0-3 of the demo's LSNs: days since 1900-01-01."""
    return (day - DAY_ZERO).days


def lsn(day_ord: int, transaction: int, slot: int) -> bytes:
    """A demo LSN: ``day_ord:transaction:slot`` as 4 + 4 + 2 big-endian bytes."""
    return day_ord.to_bytes(4, "big") + transaction.to_bytes(4, "big") + slot.to_bytes(2, "big")


def lsn_sql(day_ord: str, transaction: str, slot: str) -> str:
    """The same LSN built in DuckDB SQL from three integer expressions."""
    return f"unhex(printf('%08X%08X%04X', {day_ord}, {transaction}, {slot}))"


def format_lsn(value: bytes) -> str:
    """``0x0000AF3C000001230005`` as SQL Server prints a binary(10)."""
    return "0x" + bytes(value).hex().upper()


def increment_lsn(value: bytes) -> bytes:
    """``sys.fn_cdc_increment_lsn``: the next possible LSN."""
    return (int.from_bytes(value, "big") + 1).to_bytes(LSN_BYTES, "big")


def full_update_mask(n_columns: int) -> bytes:
    """The mask of an insert or delete: every captured column's bit set."""
    return ((1 << n_columns) - 1).to_bytes((n_columns + 7) // 8, "big")


def update_mask_sql(columns: Sequence[str], before: str, after: str) -> str:
    """DuckDB SQL for the mask of an update from a before-image alias and an after-image alias."""
    n_bytes = (len(columns) + 7) // 8
    if len(columns) > 62:
        raise ValueError("the demo builds masks in a BIGINT: at most 62 columns")
    terms = " + ".join(
        f'(CASE WHEN {before}."{c}" IS DISTINCT FROM {after}."{c}" THEN {1 << i} ELSE 0 END)'
        for i, c in enumerate(columns)
    )
    return f"unhex(lpad(hex(CAST({terms} AS BIGINT)), {2 * n_bytes}, '0'))"


def decode_update_mask(mask: bytes, columns: Sequence[str]) -> list[str]:
    """The columns (in ordinal order) whose bit is set in a CDC ``__$update_mask``."""
    value = int.from_bytes(bytes(mask), "big")
    return [c for i, c in enumerate(columns) if value >> i & 1]


def cleanup_cdc(demo_dir: Path, capture_instance: str, low_water_mark_time: dt.datetime) -> bytes:
    """Remove one capture instance's changes committed before a time, like SQL Server's cleanup job.

    The new low endpoint (``cdc.change_tables.start_lsn``, what ``sys.fn_cdc_get_min_lsn``
    returns) is the first commit LSN at or after ``low_water_mark_time``; with no later
    transaction it is the LSN after the last one. It never goes down. Rows of
    ``cdc.lsn_time_mapping`` below every capture instance's low endpoint go too.
    Returns the new low endpoint.
    """
    ci = schema.capture_instance(capture_instance)
    with db.connect(erp_path(demo_dir)) as con:
        con.execute("BEGIN")
        try:
            current = con.execute(
                "SELECT start_lsn FROM cdc.change_tables WHERE capture_instance = ?", [ci.name]
            ).fetchone()[0]
            first_after, last = con.execute(
                "SELECT min(start_lsn) FILTER (WHERE tran_end_time >= ?), max(start_lsn) FROM cdc.lsn_time_mapping",
                [low_water_mark_time],
            ).fetchone()
            if first_after is not None:
                candidate = bytes(first_after)
            elif last is not None:
                candidate = increment_lsn(bytes(last))
            else:
                candidate = bytes(current)
            new_low = max(bytes(current), candidate)
            con.execute(f'DELETE FROM {ci.change_table} WHERE "__$start_lsn" < ?', [new_low])
            con.execute(
                "UPDATE cdc.change_tables SET start_lsn = ? WHERE capture_instance = ?",
                [new_low, ci.name],
            )
            con.execute(
                "DELETE FROM cdc.lsn_time_mapping WHERE start_lsn < (SELECT min(start_lsn) FROM cdc.change_tables)"
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return new_low


def cleanup_change_tracking(demo_dir: Path, table: str, low_water_mark_time: dt.datetime) -> int:
    """Forget one table's changes committed before a time, like Change Tracking's auto cleanup.

    ``table`` is ``"Sales.SalesOrderDetail"`` or ``"Sales.SalesOrderHeader"``. Log rows
    whose version committed before the time are deleted and the table's minimum valid
    version is raised to the last such version (it never goes down): a client synchronised
    to an older version must re-initialise. Returns the new minimum valid version.
    """
    t = ct_table(table)
    with db.connect(erp_path(demo_dir)) as con:
        con.execute("BEGIN")
        try:
            cutoff = con.execute(
                "SELECT max(version) FROM ct.versions WHERE commit_time < ?", [low_water_mark_time]
            ).fetchone()[0]
            current = con.execute(
                "SELECT min_valid_version FROM ct.min_valid_versions WHERE schema_name = ? AND table_name = ?",
                [t.schema, t.name],
            ).fetchone()[0]
            new_min = max(current, cutoff or 0)
            con.execute(f'DELETE FROM {ct_log_table(t)} WHERE "SYS_CHANGE_VERSION" <= ?', [new_min])
            con.execute(
                "UPDATE ct.min_valid_versions SET min_valid_version = ? WHERE schema_name = ? AND table_name = ?",
                [new_min, t.schema, t.name],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return new_min
