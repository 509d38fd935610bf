"""Opening a demo database file: one writer at a time, any number of read-only readers."""

from __future__ import annotations

from pathlib import Path

import duckdb


class DemoDatabaseBusy(RuntimeError):
    """Another process holds the demo file (DuckDB allows no writer beside other connections)."""


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a demo database; the caller closes it (``with connect(p) as con: ...``)."""
    if read_only and not Path(path).exists():
        raise FileNotFoundError(f"{path} does not exist; seed the demo first (mssql-lakehouse demo seed)")
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise DemoDatabaseBusy(
                f"{path} is open in another process (a reader or a running seed); close it and try again"
            ) from exc
        raise


def sql_string(value: str) -> str:
    """A SQL string literal (for the few statements, like ATTACH, that take no parameters)."""
    return "'" + value.replace("'", "''") + "'"
