"""Positions in a source: times in the source's clock, LSNs, versions.

* Dagster partition windows are time-zone aware, in the business day's zone.
  ``datetime2`` watermark columns and CDC's ``cdc.lsn_time_mapping`` hold the
  server's wall-clock time, which runs in that same zone
  (``LAKEHOUSE_ERP_TIMEZONE``), so windows are shown on that clock and made naive
  before they reach SQL (:func:`to_source_time`): a day is midnight to midnight
  there, 23 or 25 hours on a DST change. Naive datetimes are taken as already on
  the server's clock.
* System-versioned temporal tables keep their period columns in UTC, so an AS OF
  time is converted to UTC instead (:func:`to_utc_naive`).
* An LSN is SQL Server's ``binary(10)``: 10 bytes, big-endian, compared bytewise.
  It travels as bytes, is shown as 20 hex digits (``0x`` prefix accepted).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LSN_BYTES = 10


def to_source_time(value: dt.datetime, time_zone: str) -> dt.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)


def to_utc_naive(value: dt.datetime, time_zone: str) -> dt.datetime:
    """A naive UTC time; a naive input is taken to be in ``time_zone``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(time_zone))
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def lsn_bytes(value: bytes | bytearray | str) -> bytes:
    """An LSN from bytes or hex text (``0x`` optional), checked to be 10 bytes."""
    if isinstance(value, str):
        text = value[2:] if value.lower().startswith("0x") else value
        try:
            value = bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"LSN {value!r} is not hexadecimal") from None
    raw = bytes(value)
    if len(raw) != LSN_BYTES:
        raise ValueError(f"an LSN has {LSN_BYTES} bytes, got {len(raw)}")
    return raw


def lsn_hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + bytes(value).hex().upper()


def is_null_lsn(value: bytes | None) -> bool:
    """SQL Server's CDC functions answer 0x00..00 (or NULL) for 'no such LSN'."""
    return value is None or not any(bytes(value))
