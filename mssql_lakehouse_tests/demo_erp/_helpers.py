"""Shared constants and small query helpers for the demo ERP tests."""

from __future__ import annotations

import datetime as dt

import duckdb

START = dt.date(2024, 3, 1)
DAYS = 6
SCALE = 0.01
SEEDED_DAYS = [START + dt.timedelta(days=k) for k in range(DAYS)]


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    return con.execute(sql, params or []).fetchone()[0]
