"""``Sales.SalesOrderHeader`` and ``Sales.SalesOrderDetail``: each day's new and late orders, with their bad lines,
and the shipping, cancelling, amending and deleting of the orders of the days before."""

from __future__ import annotations

import math

import duckdb

from mssql_lakehouse_demo.generator.common import (
    Volumes,
    one,
    row_uuid,
    run,
    square,
    time_in_day,
    tx_end,
    uniform,
)

ORDER_WINDOW_DAYS = 30
UNKNOWN_PRODUCT_BASE = 990_000
FIRST_SALES_ORDER_ID = 43_659  # where AdventureWorks starts, for a familiar look

_LINE_TOTAL = "(OrderQty * UnitPrice * (1 - UnitPriceDiscount))"


def stage_new_orders(
    con: duckdb.DuckDBPyConnection, D: str, v: Volumes, seqs: dict[str, int], n_cust: int, n_pop: int
) -> None:
    n = v.orders + v.late_orders
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE o_new AS
        WITH base AS (
            SELECT i,
                   i >= {v.orders} AS is_late,
                   {time_in_day(D, uniform("o_time", D, "i"), 1, 86_390)} AS begin_time,
                   {uniform("o_dur", D, "i")} AS u_dur,
                   floor({uniform("o_cust", D, "i")} * {n_cust})::BIGINT AS cust_rk,
                   1 + floor({uniform("o_lines", D, "i")} * 7)::INTEGER AS n_lines,
                   1 + floor({uniform("o_late", D, "i")} * 3)::INTEGER AS late_days
            FROM range({n}) r(i)
        )
        SELECT ({seqs["SalesOrderID"]} + row_number() OVER (ORDER BY begin_time, i))::INTEGER AS SalesOrderID,
               i, is_late,
               CASE WHEN is_late THEN {D} - late_days ELSE {D} END AS OrderDate,
               begin_time, {tx_end("begin_time", "u_dur")} AS end_time,
               c.CustomerID, n_lines
        FROM base JOIN cust_rank c ON c.rk = base.cust_rk
        """,
    )
    nb = v.bad_lines_each
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE l_new AS
        WITH x AS (
            SELECT SalesOrderID, begin_time, end_time, unnest(range(n_lines)) AS line_no FROM o_new
        ), y AS (
            SELECT x.*,
                   floor({square(uniform("l_prod", D, "SalesOrderID", "line_no"))} * {n_pop})::BIGINT AS prod_rk,
                   (1 + floor({square(uniform("l_qty", D, "SalesOrderID", "line_no"))} * 10))::SMALLINT AS qty,
                   {uniform("l_disc", D, "SalesOrderID", "line_no")} AS ud,
                   hash('l_bad', {D}, SalesOrderID, line_no) AS hbad
            FROM x
        ), z AS (
            SELECT y.*, p.ProductID AS good_product, p.ListPrice,
                   ({seqs["SalesOrderDetailID"]} + row_number() OVER (ORDER BY y.SalesOrderID, y.line_no))::INTEGER
                       AS SalesOrderDetailID,
                   row_number() OVER (ORDER BY hbad, y.SalesOrderID, y.line_no) AS bad_rk
            FROM y JOIN pop p ON p.rk = y.prod_rk
        )
        SELECT SalesOrderID, SalesOrderDetailID, line_no, begin_time, end_time,
               CASE WHEN bad_rk BETWEEN {nb + 1} AND {2 * nb} THEN NULL
                    WHEN bad_rk BETWEEN {2 * nb + 1} AND {3 * nb} THEN ({UNKNOWN_PRODUCT_BASE} + hbad % 9999)::INTEGER
                    ELSE good_product END AS ProductID,
               CASE WHEN bad_rk <= {nb} THEN -qty ELSE qty END AS OrderQty,
               ListPrice AS UnitPrice,
               CAST(CASE WHEN ud < 0.85 THEN 0 WHEN ud < 0.93 THEN 0.02 WHEN ud < 0.97 THEN 0.05
                         WHEN ud < 0.99 THEN 0.10 WHEN ud < 0.997 THEN 0.20 ELSE 0.40 END AS DECIMAL(19,4))
                   AS UnitPriceDiscount
        FROM z
        """,
    )
    run(
        con,
        f"""
        INSERT INTO stg_soh BY NAME
        SELECT 'order' AS tx_kind, o.SalesOrderID AS tx_key, 1 AS seq, 'I' AS op,
               o.begin_time AS tx_begin, o.end_time AS tx_end,
               o.SalesOrderID, 0 AS RevisionNumber, o.OrderDate, o.OrderDate + 12 AS DueDate,
               NULL AS ShipDate, 1 AS Status, o.CustomerID,
               s.SubTotal, CAST(s.SubTotal * 0.08 AS DECIMAL(19,4)) AS TaxAmt,
               CAST(s.SubTotal * 0.025 AS DECIMAL(19,4)) AS Freight,
               {row_uuid("Sales.SalesOrderHeader", "o.SalesOrderID")} AS rowguid,
               o.begin_time AS ModifiedDate
        FROM o_new o
        JOIN (SELECT SalesOrderID, CAST(sum({_LINE_TOTAL}) AS DECIMAL(19,4)) AS SubTotal
              FROM l_new GROUP BY SalesOrderID) s USING (SalesOrderID)
        """,
    )
    run(
        con,
        f"""
        INSERT INTO stg_sod BY NAME
        SELECT 'order' AS tx_kind, SalesOrderID AS tx_key, (line_no + 2)::INTEGER AS seq, 'I' AS op,
               begin_time AS tx_begin, end_time AS tx_end,
               SalesOrderID, SalesOrderDetailID, ProductID, OrderQty, UnitPrice, UnitPriceDiscount,
               {row_uuid("Sales.SalesOrderDetail", "SalesOrderDetailID")} AS rowguid,
               begin_time AS ModifiedDate
        FROM l_new
        """,
    )


def stage_order_actions(con: duckdb.DuckDBPyConnection, D: str) -> None:
    """One action per recent order and day: delete, cancel, amend or move along the status chain."""
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE act AS
        WITH c AS (
            SELECT h.*,
                   {uniform("a_kind", D, "h.SalesOrderID")} AS ua,
                   {uniform("a_prog", D, "h.SalesOrderID")} AS up,
                   {uniform("a_back", D, "h.SalesOrderID")} AS ub,
                   {time_in_day(D, uniform("a_time", D, "h.SalesOrderID"), 1, 86_390)} AS t_begin,
                   {uniform("a_dur", D, "h.SalesOrderID")} AS u_dur,
                   {uniform("a_batch", D, "h.SalesOrderID")} AS u_batch
            FROM Sales.SalesOrderHeader h
            WHERE h.OrderDate BETWEEN {D} - {ORDER_WINDOW_DAYS} AND {D} - 1 AND h.Status <> 6
        )
        SELECT * EXCLUDE (ua, up, ub),
               CASE WHEN ua < 0.0002 THEN 'delete'
                    WHEN ua < 0.0006 AND Status < 5 THEN 'cancel'
                    WHEN ua < 0.0106 AND Status < 5 THEN 'amend'
                    WHEN (Status = 1 AND up < 0.7) OR (Status = 2 AND up < 0.5) OR (Status = 3 AND up < 0.3)
                         THEN 'progress'
               END AS action,
               CASE WHEN Status = 1 THEN 2 WHEN Status = 2 AND ub < 0.1 THEN 3 ELSE 5 END AS next_status
        FROM c
        """,
    )
    run(con, "DELETE FROM act WHERE action IS NULL")
    n_progress = one(con, "SELECT count(*) FROM act WHERE action = 'progress'")
    # Shipping runs in batches through the day; each batch is one transaction, kept well
    # below the 65,533 changes an LSN slot can number.
    batches = max(8, math.ceil(n_progress / 20_000))
    step = 16 * 3600 // batches
    batch_begin = (
        f"erp_time({D}, (6 * 3600 + batch * {step}) * 1000000 "
        f"+ floor({uniform('batch', D, 'batch')} * {min(step, 600)} * 1000000))"
    )
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE act_tx AS
        WITH a AS (
            SELECT SalesOrderID, action,
                   CASE WHEN action = 'progress' THEN floor(u_batch * {batches})::BIGINT
                        ELSE SalesOrderID END AS tx_key,
                   CASE WHEN action = 'progress' THEN floor(u_batch * {batches})::BIGINT END AS batch,
                   t_begin, u_dur
            FROM act
        )
        SELECT SalesOrderID, action, tx_key,
               CASE WHEN action = 'progress' THEN {batch_begin} ELSE t_begin END AS tx_begin,
               CASE WHEN action = 'progress' THEN {tx_end(batch_begin, uniform("batch_dur", D, "batch"), 2000)}
                    ELSE {tx_end("t_begin", "u_dur")} END AS tx_end
        FROM a
        """,
    )
    # Amendments: the first line (in a per-day shuffled order) always changes quantity,
    # others change quantity or go away.
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE amend_l AS
        WITH l AS (
            SELECT d.*,
                   row_number() OVER (PARTITION BY d.SalesOrderID
                                      ORDER BY hash('am_rk', {D}, d.SalesOrderDetailID), d.SalesOrderDetailID) AS rk,
                   {uniform("am_act", D, "d.SalesOrderDetailID")} AS ua,
                   (1 + floor({square(uniform("am_qty", D, "d.SalesOrderDetailID"))} * 10))::SMALLINT AS q
            FROM Sales.SalesOrderDetail d
            JOIN act a ON a.SalesOrderID = d.SalesOrderID AND a.action = 'amend'
        )
        SELECT * EXCLUDE (rk, ua, q),
               CASE WHEN rk = 1 THEN 'U' WHEN ua < 0.15 THEN 'D' WHEN ua < 0.35 THEN 'U' END AS line_op,
               CASE WHEN q = OrderQty THEN OrderQty + 1 ELSE q END AS new_qty
        FROM l
        """,
    )
    run(
        con,
        """
        INSERT INTO stg_sod BY NAME
        SELECT 'amend' AS tx_kind, x.SalesOrderID AS tx_key,
               row_number() OVER (PARTITION BY x.SalesOrderID ORDER BY l.SalesOrderDetailID)::INTEGER AS seq,
               l.line_op AS op, x.tx_begin, x.tx_end,
               l.* EXCLUDE (line_op, new_qty, OrderQty, ModifiedDate, RowVer),
               CASE WHEN l.line_op = 'U' THEN l.new_qty ELSE l.OrderQty END AS OrderQty,
               CASE WHEN l.line_op = 'U' THEN x.tx_begin ELSE l.ModifiedDate END AS ModifiedDate,
               CASE WHEN l.line_op = 'D' THEN l.RowVer END AS RowVer
        FROM amend_l l JOIN act_tx x USING (SalesOrderID)
        WHERE l.line_op IS NOT NULL
        """,
    )
    run(
        con,
        """
        INSERT INTO stg_soh BY NAME
        WITH lines AS (
            SELECT SalesOrderID,
                   count(*) FILTER (WHERE line_op IS NOT NULL) AS n_changed,
                   CAST(coalesce(sum(CASE WHEN line_op = 'U' THEN new_qty ELSE OrderQty END
                                     * UnitPrice * (1 - UnitPriceDiscount))
                                 FILTER (WHERE line_op IS DISTINCT FROM 'D'), 0) AS DECIMAL(19,4)) AS SubTotal
            FROM amend_l GROUP BY SalesOrderID
        )
        SELECT 'amend' AS tx_kind, x.SalesOrderID AS tx_key, (coalesce(l.n_changed, 0) + 1)::INTEGER AS seq, 'U' AS op,
               x.tx_begin, x.tx_end,
               h.* EXCLUDE (RevisionNumber, SubTotal, TaxAmt, Freight, ModifiedDate, RowVer),
               least(h.RevisionNumber + 1, 255) AS RevisionNumber,
               coalesce(l.SubTotal, 0) AS SubTotal,
               CAST(coalesce(l.SubTotal, 0) * 0.08 AS DECIMAL(19,4)) AS TaxAmt,
               CAST(coalesce(l.SubTotal, 0) * 0.025 AS DECIMAL(19,4)) AS Freight,
               x.tx_begin AS ModifiedDate
        FROM act_tx x
        JOIN Sales.SalesOrderHeader h USING (SalesOrderID)
        LEFT JOIN lines l USING (SalesOrderID)
        WHERE x.action = 'amend'
        """,
    )
    # Status changes: shipping batches and cancellations.
    run(
        con,
        f"""
        INSERT INTO stg_soh BY NAME
        SELECT x.action AS tx_kind, x.tx_key,
               row_number() OVER (PARTITION BY x.action, x.tx_key ORDER BY x.SalesOrderID)::INTEGER AS seq,
               'U' AS op, x.tx_begin, x.tx_end,
               h.* EXCLUDE (Status, ShipDate, ModifiedDate, RowVer),
               CASE WHEN x.action = 'cancel' THEN 6 ELSE a.next_status END AS Status,
               CASE WHEN x.action = 'progress' AND a.next_status = 5 THEN {D} ELSE h.ShipDate END AS ShipDate,
               x.tx_begin AS ModifiedDate
        FROM act_tx x
        JOIN act a USING (SalesOrderID)
        JOIN Sales.SalesOrderHeader h USING (SalesOrderID)
        WHERE x.action IN ('progress', 'cancel')
        """,
    )
    # Whole-order deletes: the lines, then the header, in one transaction.
    run(
        con,
        """
        INSERT INTO stg_sod BY NAME
        SELECT 'delete' AS tx_kind, x.SalesOrderID AS tx_key,
               row_number() OVER (PARTITION BY x.SalesOrderID ORDER BY d.SalesOrderDetailID)::INTEGER AS seq,
               'D' AS op, x.tx_begin, x.tx_end, d.*
        FROM act_tx x JOIN Sales.SalesOrderDetail d USING (SalesOrderID)
        WHERE x.action = 'delete'
        """,
    )
    run(
        con,
        """
        INSERT INTO stg_soh BY NAME
        SELECT 'delete' AS tx_kind, x.SalesOrderID AS tx_key,
               (1 + (SELECT count(*) FROM Sales.SalesOrderDetail d WHERE d.SalesOrderID = x.SalesOrderID))::INTEGER
                   AS seq,
               'D' AS op, x.tx_begin, x.tx_end, h.*
        FROM act_tx x JOIN Sales.SalesOrderHeader h USING (SalesOrderID)
        WHERE x.action = 'delete'
        """,
    )
    run(con, "DROP TABLE IF EXISTS temp.act_tx")
