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


def header_total_mismatches(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Orders whose totals are not those of their lines (an order left without lines included)."""
    return rows(
        con,
        """
        SELECT h.SalesOrderID, h.SubTotal, l.total
        FROM Sales.SalesOrderHeader h
        LEFT JOIN (SELECT SalesOrderID,
                          CAST(sum(OrderQty * UnitPrice * (1 - UnitPriceDiscount)) AS DECIMAL(19,4)) AS total
                   FROM Sales.SalesOrderDetail GROUP BY SalesOrderID) l USING (SalesOrderID)
        WHERE h.SubTotal <> coalesce(l.total, 0)
           OR h.TaxAmt <> CAST(h.SubTotal * 0.08 AS DECIMAL(19,4))
        """,
    )
