"""Where a change event sits in the source's commit order, spelled the same for every feed.

SQL Server orders changes by the commit LSN of their transaction (``__$start_lsn``),
then by the change's own LSN inside it (``__$seqval``). Debezium's SQL Server
connector reports the same two LSNs as ``source.commit_lsn`` and
``source.change_lsn`` (printed ``00000025:00000d98:0025``: the same 10 bytes),
plus ``source.event_serial_no`` (1, or 2 for the events it builds from an
update's before/after pair).

Both feeds store LSNs as 20 upper-case hex digits, so that ordering positions is
a plain string sort, in Spark and in Python alike. ``change_position`` packs the
whole order into one string::

    <commit LSN>.<change LSN>.<event serial no, 10 digits>.<operation rank>

A snapshot read (``r``) has no change LSN; it stands for the row's state as of
the snapshot's LSN, so it sorts after every change of that LSN. The operation
rank puts the delete of a primary-key change (Debezium: a delete and a create
with the same LSNs) before its create.
"""

from __future__ import annotations

import re

from pyspark.sql import Column
from pyspark.sql import functions as F

LSN_BYTES = 10
LSN_HEX_DIGITS = 2 * LSN_BYTES
AFTER_EVERY_CHANGE = "F" * LSN_HEX_DIGITS
"""Change LSN of a snapshot read: after every change committed at its LSN."""

OPERATIONS = ("c", "u", "d", "r")
"""Debezium's operation codes, used by both feeds: create, update, delete, read (snapshot)."""

OPERATION_RANK = {"d": 0, "c": 1, "r": 1, "u": 2}

_HEX_LSN = re.compile(r"^[0-9A-F]{20}$")


def lsn_text(value: bytes | bytearray | str) -> str:
    """An LSN as 20 upper-case hex digits, from bytes, ``0x...`` hex, or Debezium's ``x:y:z``."""
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
        if len(raw) != LSN_BYTES:
            raise ValueError(f"an LSN has {LSN_BYTES} bytes, got {len(raw)}")
        return raw.hex().upper()
    text = value.strip().upper().replace(":", "")
    if text.startswith("0X"):
        text = text[2:]
    if not _HEX_LSN.match(text):
        raise ValueError(f"{value!r} is not an LSN (10 bytes as hex, or Debezium's 8:8:4 hex digits)")
    return text


def debezium_lsn(value: str) -> str:
    """Debezium's spelling ``00000025:00000d98:0025`` of an LSN given as hex digits."""
    text = lsn_text(value).lower()
    return f"{text[:8]}:{text[8:16]}:{text[16:]}"


def change_position_text(commit_lsn: str, change_lsn: str | None, event_serial_no: int | None, operation: str) -> str:
    """The sortable position string (see the module docstring), computed in Python."""
    return ".".join(
        [
            commit_lsn,
            change_lsn or AFTER_EVERY_CHANGE,
            f"{event_serial_no or 0:010d}",
            str(OPERATION_RANK[operation]),
        ]
    )


# -- the same in Spark ---------------------------------------------------------------------------


def lsn_from_binary(column: Column) -> Column:
    """A ``binary(10)`` LSN column as 20 hex digits (null stays null)."""
    return F.upper(F.hex(column))


def lsn_from_debezium(column: Column) -> Column:
    """Debezium's ``00000025:00000d98:0025`` as 20 hex digits; anything that is not an LSN is null."""
    text = F.upper(F.regexp_replace(column, ":", ""))
    return F.when(text.rlike(r"^[0-9A-F]{20}$"), text)


def change_position(commit_lsn: Column, change_lsn: Column, event_serial_no: Column, operation: Column) -> Column:
    """The sortable position string of each row (see the module docstring)."""
    rank = F.coalesce(
        *[F.when(operation == F.lit(op), F.lit(str(r))) for op, r in OPERATION_RANK.items()],
        F.lit("9"),
    )
    return F.concat_ws(
        ".",
        commit_lsn,
        F.coalesce(change_lsn, F.lit(AFTER_EVERY_CHANGE)),
        F.lpad(F.coalesce(event_serial_no, F.lit(0)).cast("string"), 10, "0"),
        rank,
    )


def _epoch() -> Column:
    return F.lit("1970-01-01 00:00:00").cast("timestamp_ntz")


def epoch_micros_ntz(column: Column) -> Column:
    """Microseconds since 1970-01-01 of a wall-clock (``timestamp_ntz``) column, as bigint."""
    return F.timestamp_diff("MICROSECOND", _epoch(), column)


def ntz_from_epoch(amount: Column, unit: str) -> Column:
    """A ``timestamp_ntz`` ``amount`` units after 1970-01-01 00:00 (no time zone involved).

    ``unit`` is ``MILLISECOND`` or ``MICROSECOND``.
    """
    return F.timestamp_add(unit, amount, _epoch())


def truncate_to_millisecond(column: Column) -> Column:
    """A ``timestamp_ntz`` cut to whole milliseconds (toward the past)."""
    micros = epoch_micros_ntz(column)
    return ntz_from_epoch(micros - F.pmod(micros, F.lit(1000)), "MICROSECOND")
