"""Write the demo's CDC changes of ``dbo.Customer`` as Debezium SQL Server connector events.

The same changes the SQL Server feed pulls from ``cdc.dbo_Customer_CT`` become the JSON
lines a Debezium connector (with Kafka Connect's JSON converter) would have produced, so the
two feeds can be compared on identical logical changes::

    python -m mssql_lakehouse_demo.debezium_export            # into $LAKEHOUSE_HOME/landing/debezium/customers
    python -m mssql_lakehouse_demo.debezium_export --no-schema --time-precision-mode connect

One file per commit date, ``dbo_Customer-<YYYY-MM-DD>.json``, one event per line in commit
order, written atomically (a temporary file renamed), so a sensor never sees half a file.
Re-exporting writes the same bytes; a file whose content would not change is left alone
(its modification time too), so only days with new changes look new.

What the connector does, and so this export:

* an update is the change table's rows 3 (before) and 4 (after) as one ``u`` event with
  ``event_serial_no`` 2; inserts (``c``) and deletes (``d``) have 1;
* an update of the primary key is a ``d`` of the old key and a ``c`` of the new one (same
  LSNs, serial 2);
* ``source.commit_lsn`` is ``__$start_lsn``, ``source.change_lsn`` is ``__$seqval``, both
  printed ``xxxxxxxx:xxxxxxxx:xxxx``; ``source.ts_ms`` is the commit time
  (``cdc.lsn_time_mapping.tran_end_time`` in the server's time zone) in epoch milliseconds;
* values follow ``time.precision.mode`` and ``decimal.handling.mode`` (see
  ``mssql_lakehouse.lib.transforms.debezium``).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mssql_lakehouse_demo import db
from mssql_lakehouse_demo.generator.seeding import recorded_time_zone
from mssql_lakehouse_demo.schema import erp_path

CONNECTOR_VERSION = "2.7.3.Final"
CAPTURE_INSTANCE = "dbo_Customer"
_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    optional: bool = True

    @property
    def base(self) -> str:
        return self.sql_type.split("(")[0].strip().lower()

    @property
    def args(self) -> tuple[int, ...]:
        if "(" not in self.sql_type:
            return ()
        inner = self.sql_type.split("(", 1)[1].rstrip(")")
        return tuple(int(a) for a in inner.split(",") if a.strip().isdigit())


@dataclass(frozen=True)
class Encoding:
    """``time.precision.mode`` (adaptive | connect) and ``decimal.handling.mode`` (precise | string | double)."""

    time_precision_mode: str = "adaptive"
    decimal_handling_mode: str = "precise"


# -- values ---------------------------------------------------------------------------------------


def _scale(column: Column) -> int:
    if column.base in ("money", "smallmoney"):
        return 4
    args = column.args
    return args[1] if len(args) > 1 else 0


def _precision(column: Column) -> int:
    if column.base == "money":
        return 19
    if column.base == "smallmoney":
        return 10
    args = column.args
    return args[0] if args else 18


def decimal_bytes(value: Decimal, scale: int) -> str:
    """Base64 of the unscaled value as big-endian two's complement, minimal length (Java's BigInteger)."""
    unscaled = int(value.scaleb(scale).to_integral_exact())
    n_bytes = (unscaled if unscaled >= 0 else ~unscaled).bit_length() // 8 + 1
    return base64.b64encode(unscaled.to_bytes(n_bytes, "big", signed=True)).decode("ascii")


def _epoch_micros(value: dt.datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _time_kind(column: Column, encoding: Encoding) -> str:
    if column.base in ("datetime", "smalldatetime") or encoding.time_precision_mode == "connect":
        return "millis"
    precision = column.args[0] if column.args else 7
    return "millis" if precision <= 3 else "micros" if precision <= 6 else "nanos"


def encode_value(value: Any, column: Column, encoding: Encoding) -> Any:
    """A column value as Debezium's JSON converter writes it."""
    if value is None:
        return None
    base = column.base
    if base in ("decimal", "numeric", "money", "smallmoney"):
        scale = _scale(column)
        value = Decimal(value).quantize(Decimal(1).scaleb(-scale))
        if encoding.decimal_handling_mode == "precise":
            return decimal_bytes(value, scale)
        if encoding.decimal_handling_mode == "string":
            return format(value, "f")
        return float(value)
    if base in ("datetime2", "datetime", "smalldatetime"):
        micros = _epoch_micros(value)
        kind = _time_kind(column, encoding)
        if kind == "millis":
            return micros // 1000
        return micros if kind == "micros" else micros * 1000
    if base == "date":
        return (value - _EPOCH_DATE).days
    if base == "datetimeoffset":
        return value.isoformat()
    if base in ("binary", "varbinary", "image"):
        return base64.b64encode(bytes(value)).decode("ascii")
    if base == "uniqueidentifier":
        return str(value).upper()
    if isinstance(value, Decimal):
        return float(value)
    return value


def field_schema(column: Column, encoding: Encoding) -> dict[str, Any]:
    """The Kafka Connect schema of one column, as the JSON converter writes it."""
    base = column.base
    out: dict[str, Any]
    if base in ("tinyint", "smallint"):
        out = {"type": "int16"}
    elif base == "int":
        out = {"type": "int32"}
    elif base == "bigint":
        out = {"type": "int64"}
    elif base == "bit":
        out = {"type": "boolean"}
    elif base == "float":
        out = {"type": "float64"}
    elif base == "real":
        out = {"type": "float32"}
    elif base in ("decimal", "numeric", "money", "smallmoney"):
        if encoding.decimal_handling_mode == "precise":
            out = {
                "type": "bytes",
                "name": "org.apache.kafka.connect.data.Decimal",
                "version": 1,
                "parameters": {"scale": str(_scale(column)), "connect.decimal.precision": str(_precision(column))},
            }
        else:
            out = {"type": "string" if encoding.decimal_handling_mode == "string" else "float64"}
    elif base in ("datetime2", "datetime", "smalldatetime"):
        kind = _time_kind(column, encoding)
        if encoding.time_precision_mode == "connect":
            name = "org.apache.kafka.connect.data.Timestamp"
        else:
            name = {
                "millis": "io.debezium.time.Timestamp",
                "micros": "io.debezium.time.MicroTimestamp",
                "nanos": "io.debezium.time.NanoTimestamp",
            }[kind]
        out = {"type": "int64", "name": name, "version": 1}
    elif base == "date":
        connect = encoding.time_precision_mode == "connect"
        name = "org.apache.kafka.connect.data.Date" if connect else "io.debezium.time.Date"
        out = {"type": "int32", "name": name, "version": 1}
    elif base == "datetimeoffset":
        out = {"type": "string", "name": "io.debezium.time.ZonedTimestamp", "version": 1}
    elif base in ("binary", "varbinary", "image"):
        out = {"type": "bytes"}
    else:
        out = {"type": "string"}
    return {**out, "optional": column.optional, "field": column.name}


def envelope_schema(columns: Sequence[Column], encoding: Encoding, topic: str) -> dict[str, Any]:
    row = [field_schema(c, encoding) for c in columns]
    source_fields = [
        {"type": "string", "optional": False, "field": "version"},
        {"type": "string", "optional": False, "field": "connector"},
        {"type": "string", "optional": False, "field": "name"},
        {"type": "int64", "optional": False, "field": "ts_ms"},
        {
            "type": "string",
            "optional": True,
            "name": "io.debezium.data.Enum",
            "version": 1,
            "parameters": {"allowed": "true,last,false,incremental"},
            "default": "false",
            "field": "snapshot",
        },
        {"type": "string", "optional": False, "field": "db"},
        {"type": "string", "optional": True, "field": "sequence"},
        {"type": "string", "optional": False, "field": "schema"},
        {"type": "string", "optional": False, "field": "table"},
        {"type": "string", "optional": True, "field": "change_lsn"},
        {"type": "string", "optional": True, "field": "commit_lsn"},
        {"type": "int64", "optional": True, "field": "event_serial_no"},
    ]
    return {
        "type": "struct",
        "fields": [
            {"type": "struct", "fields": row, "optional": True, "name": f"{topic}.Value", "field": "before"},
            {"type": "struct", "fields": row, "optional": True, "name": f"{topic}.Value", "field": "after"},
            {
                "type": "struct",
                "fields": source_fields,
                "optional": False,
                "name": "io.debezium.connector.sqlserver.Source",
                "field": "source",
            },
            {"type": "string", "optional": False, "field": "op"},
            {"type": "int64", "optional": True, "field": "ts_ms"},
        ],
        "optional": False,
        "name": f"{topic}.Envelope",
        "version": 1,
    }


def debezium_lsn(value: bytes) -> str:
    text = bytes(value).hex()
    return f"{text[:8]}:{text[8:16]}:{text[16:]}"


# -- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSettings:
    encoding: Encoding = Encoding()
    with_schema: bool = True
    server: str = "erp"
    database: str = "erp"
    schema: str = "dbo"
    table: str = "Customer"
    key: str = "CustomerID"

    @property
    def topic(self) -> str:
        return f"{self.server}.{self.database}.{self.schema}.{self.table}"


def event_json(
    *,
    op: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    commit_lsn: bytes,
    change_lsn: bytes | None,
    event_serial_no: int | None,
    commit_ms: int,
    columns: Sequence[Column],
    settings: EventSettings,
    schema: Mapping[str, Any] | None = None,
) -> str:
    """One Debezium change event as a JSON line (with the schema wrapper if the settings say so)."""

    def image(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if row is None:
            return None
        return {c.name: encode_value(row.get(c.name), c, settings.encoding) for c in columns}

    payload = {
        "before": image(before),
        "after": image(after),
        "source": {
            "version": CONNECTOR_VERSION,
            "connector": "sqlserver",
            "name": settings.server,
            "ts_ms": commit_ms,
            "snapshot": "true" if op == "r" else "false",
            "db": settings.database,
            "sequence": None,
            "schema": settings.schema,
            "table": settings.table,
            "change_lsn": debezium_lsn(change_lsn) if change_lsn is not None else None,
            "commit_lsn": debezium_lsn(commit_lsn),
            "event_serial_no": event_serial_no,
        },
        "op": op,
        # When the connector processed it: a little after the commit.
        "ts_ms": commit_ms + 250,
    }
    if settings.with_schema:
        wrapped = {"schema": schema or envelope_schema(columns, settings.encoding, settings.topic), "payload": payload}
        return json.dumps(wrapped, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def commit_millis(commit_time: dt.datetime, time_zone: str) -> int:
    """A wall-clock commit time of the server (in ``time_zone``) as epoch milliseconds."""
    aware = commit_time.replace(tzinfo=ZoneInfo(time_zone))
    return _epoch_micros(aware.astimezone(dt.UTC).replace(tzinfo=None)) // 1000


def events_from_change_rows(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], time_zone: str, settings: EventSettings
) -> Iterator[tuple[dt.datetime, str]]:
    """Change-table rows in ``(__$start_lsn, __$seqval, __$operation)`` order -> (commit time, event line).

    Each row has the ``__$`` columns, the captured columns and ``tran_end_time``.
    """
    schema = envelope_schema(columns, settings.encoding, settings.topic) if settings.with_schema else None
    pending_before: Mapping[str, Any] | None = None
    for row in rows:
        operation = int(row["__$operation"])
        if operation == 3:
            pending_before = row
            continue
        values = {c.name: row.get(c.name) for c in columns}
        commit_lsn, change_lsn = bytes(row["__$start_lsn"]), bytes(row["__$seqval"])
        commit_time = row["tran_end_time"]
        common = {
            "commit_lsn": commit_lsn,
            "change_lsn": change_lsn,
            "commit_ms": commit_millis(commit_time, time_zone),
            "columns": columns,
            "settings": settings,
            "schema": schema,
        }
        if operation == 4:
            before = None
            if pending_before is not None and bytes(pending_before["__$seqval"]) == change_lsn:
                before = {c.name: pending_before.get(c.name) for c in columns}
            pending_before = None
            if before is not None and before[settings.key] != values[settings.key]:
                yield commit_time, event_json(op="d", before=before, after=None, event_serial_no=2, **common)
                yield commit_time, event_json(op="c", before=None, after=values, event_serial_no=2, **common)
            else:
                yield commit_time, event_json(op="u", before=before, after=values, event_serial_no=2, **common)
        elif operation == 2:
            yield commit_time, event_json(op="c", before=None, after=values, event_serial_no=1, **common)
        elif operation == 1:
            yield commit_time, event_json(op="d", before=values, after=None, event_serial_no=1, **common)


# -- the demo database -----------------------------------------------------------------------------


def captured_columns(con, capture_instance: str = CAPTURE_INSTANCE) -> list[Column]:
    rows = con.execute(
        """
        SELECT cc.column_name, cc.column_type
        FROM cdc.captured_columns cc JOIN cdc.change_tables ct ON ct.object_id = cc.object_id
        WHERE ct.capture_instance = ?
        ORDER BY cc.column_ordinal
        """,
        [capture_instance],
    ).fetchall()
    return [Column(name, sql_type) for name, sql_type in rows]


def change_rows(con, capture_instance: str = CAPTURE_INSTANCE) -> Iterator[dict[str, Any]]:
    change_table = f'"cdc"."{capture_instance}_CT"'
    cursor = con.execute(
        f"""
        SELECT ct.*, m.tran_end_time
        FROM {change_table} ct JOIN cdc.lsn_time_mapping m ON m.start_lsn = ct."__$start_lsn"
        ORDER BY ct."__$start_lsn", ct."__$seqval", ct."__$operation"
        """
    )
    names = [d[0] for d in cursor.description]
    while batch := cursor.fetchmany(10_000):
        for values in batch:
            yield dict(zip(names, values, strict=True))


def events_by_day(
    demo_dir: Path, settings: EventSettings = EventSettings(), capture_instance: str = CAPTURE_INSTANCE
) -> dict[dt.date, list[str]]:
    """The demo's change events as JSON lines in commit order, by commit date (the server's wall clock)."""
    by_day: dict[dt.date, list[str]] = {}
    with db.connect(erp_path(demo_dir), read_only=True) as con:
        time_zone = recorded_time_zone(dict(con.execute("SELECT name, value FROM demo.settings").fetchall()))
        columns = captured_columns(con, capture_instance)
        events = events_from_change_rows(change_rows(con, capture_instance), columns, time_zone, settings)
        for commit_time, line in events:
            by_day.setdefault(commit_time.date(), []).append(line)
    return dict(sorted(by_day.items()))


def export(
    demo_dir: Path,
    out_dir: Path,
    *,
    settings: EventSettings = EventSettings(),
    capture_instance: str = CAPTURE_INSTANCE,
) -> list[Path]:
    """Write one Debezium event file per commit date; returns the files written or rewritten.

    Commit times are the demo server's wall clock, in the zone it was seeded in; ``ts_ms`` is
    their instant, as the connector reports it.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for day, lines in events_by_day(demo_dir, settings, capture_instance).items():
        target = out_dir / f"{capture_instance}-{day.isoformat()}.json"
        content = ("\n".join(lines) + "\n").encode("utf-8")
        if target.exists() and target.read_bytes() == content:
            continue
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(content)
        os.replace(temporary, target)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    from mssql_lakehouse.settings import LakehouseSettings

    paths = LakehouseSettings.from_env().paths
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo-dir", type=Path, default=paths.demo_erp_dir)
    parser.add_argument("--out", type=Path, default=paths.landing_root / "debezium" / "customers")
    parser.add_argument("--time-precision-mode", choices=["adaptive", "connect"], default="adaptive")
    parser.add_argument("--decimal-handling-mode", choices=["precise", "string", "double"], default="precise")
    parser.add_argument("--no-schema", action="store_true", help="payload only (schemas.enable=false)")
    args = parser.parse_args(argv)
    settings = EventSettings(
        encoding=Encoding(args.time_precision_mode, args.decimal_handling_mode), with_schema=not args.no_schema
    )
    written = export(args.demo_dir, args.out, settings=settings)
    print(f"{len(written)} file(s) written to {args.out}")


if __name__ == "__main__":
    main()
