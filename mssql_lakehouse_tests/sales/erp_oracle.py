"""An independent computation of the sales gold numbers, straight from the demo ERP's tables.

Plain Python over rows read with DuckDB: no Spark, no code from the pipeline.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb

CENT = Decimal("0.01")


def daily_sku_sales(
    demo_dir: Path, first: dt.date, last: dt.date
) -> dict[tuple[dt.date, str], tuple[int, Decimal, int]]:
    """(order date, SKU) -> (quantity, net revenue, order count) for valid lines of live orders."""
    con = duckdb.connect(str(demo_dir / "erp.duckdb"), read_only=True)
    try:
        rows = con.execute(
            """
            SELECT h."OrderDate", p."ProductNumber", d."SalesOrderID",
                d."OrderQty", d."UnitPrice", d."UnitPriceDiscount"
            FROM "Sales"."SalesOrderDetail" d
            JOIN "Sales"."SalesOrderHeader" h ON h."SalesOrderID" = d."SalesOrderID"
            LEFT JOIN "Production"."Product" p ON p."ProductID" = d."ProductID"
            WHERE h."Status" <> 6 AND h."OrderDate" BETWEEN ? AND ?
            """,
            [first, last],
        ).fetchall()
    finally:
        con.close()
    quantity: dict = defaultdict(int)
    revenue: dict = defaultdict(Decimal)
    orders: dict = defaultdict(set)
    for order_date, sku, order_id, qty, price, discount in rows:
        if sku is None or qty < 0:
            continue  # quarantined: unknown or null product, negative quantity
        key = (order_date, sku)
        quantity[key] += qty
        revenue[key] += (Decimal(qty) * price * (Decimal(1) - discount)).quantize(CENT, rounding=ROUND_HALF_UP)
        orders[key].add(order_id)
    return {k: (quantity[k], revenue[k], len(orders[k])) for k in quantity}


def bad_detail_rows(demo_dir: Path) -> dict[int, str]:
    """SalesOrderDetailID -> why the line is invalid, for every invalid line in the ERP."""
    con = duckdb.connect(str(demo_dir / "erp.duckdb"), read_only=True)
    try:
        rows = con.execute(
            """
            SELECT d."SalesOrderDetailID", d."ProductID", d."OrderQty", p."ProductID" IS NOT NULL
            FROM "Sales"."SalesOrderDetail" d LEFT JOIN "Production"."Product" p ON p."ProductID" = d."ProductID"
            """
        ).fetchall()
    finally:
        con.close()
    bad = {}
    for detail_id, product_id, qty, known in rows:
        if product_id is None:
            bad[detail_id] = "null product_id"
        elif qty < 0:
            bad[detail_id] = "negative quantity"
        elif not known:
            bad[detail_id] = "unknown SKU"
    return bad


def deleted_detail_ids(demo_dir: Path, day: dt.date) -> set[int]:
    """Order lines deleted on ``day``, from the ERP's CDC change table."""
    con = duckdb.connect(str(demo_dir / "erp.duckdb"), read_only=True)
    try:
        rows = con.execute(
            """
            SELECT ct."SalesOrderDetailID" FROM "cdc"."Sales_SalesOrderDetail_CT" ct
            JOIN "cdc"."lsn_time_mapping" m ON m."start_lsn" = ct."__$start_lsn"
            WHERE ct."__$operation" = 1 AND CAST(m."tran_end_time" AS DATE) = ?
            """,
            [day],
        ).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}
