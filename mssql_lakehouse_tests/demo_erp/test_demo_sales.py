"""The sales data carries what the pipeline must handle: late orders, bad rows, amendments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb

from mssql_lakehouse_demo import Volumes
from mssql_lakehouse_demo.schema import CUSTOMER

from ._helpers import SCALE, SEEDED_DAYS, header_total_mismatches, rows, scalar

INSERTED_LINES = """
    SELECT c.*, m.tran_end_time::DATE AS day
    FROM cdc."Sales_SalesOrderDetail_CT" c JOIN cdc.lsn_time_mapping m ON m.start_lsn = c."__$start_lsn"
    WHERE c."__$operation" = 2
"""


def test_every_day_injects_each_kind_of_bad_detail_row(erp: duckdb.DuckDBPyConnection) -> None:
    per_day = rows(
        erp,
        f"""
        SELECT day,
               count(*) FILTER (WHERE OrderQty < 0) AS negative_qty,
               count(*) FILTER (WHERE ProductID IS NULL) AS null_product,
               count(*) FILTER (WHERE ProductID NOT IN (SELECT ProductID FROM Production.Product)) AS unknown_product
        FROM ({INSERTED_LINES}) GROUP BY day ORDER BY day
        """,
    )
    n = Volumes(SCALE).bad_lines_each
    assert [r["day"] for r in per_day] == SEEDED_DAYS
    for r in per_day:
        assert (r["negative_qty"], r["null_product"], r["unknown_product"]) == (n, n, n), r
    # And they are in the table the pipeline extracts, not only in the change log.
    assert scalar(erp, "SELECT count(*) FROM Sales.SalesOrderDetail WHERE ProductID IS NULL") > 0
    assert scalar(erp, "SELECT count(*) FROM Sales.SalesOrderDetail WHERE OrderQty < 0") > 0


def test_late_orders_arrive_one_to_three_days_after_their_order_date(erp: duckdb.DuckDBPyConnection) -> None:
    late = rows(
        erp,
        """
        SELECT m.tran_end_time::DATE AS day, c.OrderDate, c.ModifiedDate
        FROM cdc."Sales_SalesOrderHeader_CT" c JOIN cdc.lsn_time_mapping m ON m.start_lsn = c."__$start_lsn"
        WHERE c."__$operation" = 2 AND c.OrderDate < m.tran_end_time::DATE
        """,
    )
    assert {r["day"] for r in late} == set(SEEDED_DAYS)
    for r in late:
        assert 1 <= (r["day"] - r["OrderDate"]).days <= 3
        assert r["ModifiedDate"].date() == r["day"]
    # An order for a day that was already seeded shows up with a later ModifiedDate.
    assert (
        scalar(
            erp,
            "SELECT count(*) FROM Sales.SalesOrderHeader "
            "WHERE OrderDate >= ? AND OrderDate < CAST(ModifiedDate AS DATE) AND RevisionNumber = 0 AND Status = 1",
            [SEEDED_DAYS[0]],
        )
        > 0
    )


def test_new_orders_are_stamped_inside_their_day_with_sub_second_times(erp: duckdb.DuckDBPyConnection) -> None:
    inserted = rows(
        erp,
        """
        SELECT c.OrderDate, c.ModifiedDate, m.tran_end_time
        FROM cdc."Sales_SalesOrderHeader_CT" c JOIN cdc.lsn_time_mapping m ON m.start_lsn = c."__$start_lsn"
        WHERE c."__$operation" = 2
        """,
    )
    assert all(r["ModifiedDate"].date() == r["tran_end_time"].date() for r in inserted)
    assert all(r["ModifiedDate"] <= r["tran_end_time"] for r in inserted)
    with_fraction = sum(1 for r in inserted if r["ModifiedDate"].microsecond != 0)
    assert with_fraction > 0.99 * len(inserted)


def test_header_totals_match_their_lines(erp: duckdb.DuckDBPyConnection) -> None:
    assert header_total_mismatches(erp) == []


def test_earlier_orders_are_updated_deleted_and_shipped(erp: duckdb.DuckDBPyConnection) -> None:
    ops = dict(
        erp.execute('SELECT "__$operation", count(*) FROM cdc."Sales_SalesOrderDetail_CT" GROUP BY 1').fetchall()
    )
    assert ops[1] > 0 and ops[4] > 0  # line deletes and quantity changes
    assert scalar(erp, 'SELECT count(*) FROM cdc."Sales_SalesOrderHeader_CT" WHERE "__$operation" = 1') > 0
    statuses = dict(erp.execute("SELECT Status, count(*) FROM Sales.SalesOrderHeader GROUP BY 1").fetchall())
    assert set(statuses) <= {1, 2, 3, 5, 6} and statuses.get(5, 0) > 0 and statuses.get(6, 0) > 0
    assert scalar(erp, "SELECT count(*) FROM Sales.SalesOrderHeader WHERE (Status = 5) <> (ShipDate IS NOT NULL)") == 0
    # An amended order got a new revision and a ModifiedDate after its order date.
    assert (
        scalar(
            erp,
            "SELECT count(*) FROM Sales.SalesOrderHeader WHERE RevisionNumber > 0 AND ModifiedDate::DATE > OrderDate",
        )
        > 0
    )


def test_every_change_bumps_rowver(erp: duckdb.DuckDBPyConnection) -> None:
    for table in ("Sales_SalesOrderHeader", "Sales_SalesOrderDetail"):
        bad = scalar(
            erp,
            f"""
            SELECT count(*) FROM cdc."{table}_CT" b JOIN cdc."{table}_CT" a
              ON a."__$start_lsn" = b."__$start_lsn" AND a."__$seqval" = b."__$seqval"
            WHERE b."__$operation" = 3 AND a."__$operation" = 4
              AND NOT (a.RowVer > b.RowVer AND a.ModifiedDate > b.ModifiedDate)
            """,
        )
        assert bad == 0
    # RowVer is unique across the database, like SQL Server's database-wide counter.
    assert (
        scalar(
            erp,
            "SELECT count(*) - count(DISTINCT RowVer) FROM (SELECT RowVer FROM Sales.SalesOrderHeader "
            "UNION ALL SELECT RowVer FROM Sales.SalesOrderDetail)",
        )
        == 0
    )


def test_a_customer_is_deleted_and_reinserted_unchanged_in_one_transaction(erp: duckdb.DuckDBPyConnection) -> None:
    changes = rows(erp, 'SELECT * FROM cdc."dbo_Customer_CT" ORDER BY "__$start_lsn", "__$seqval"')
    columns = CUSTOMER.column_names
    by_tx: dict[tuple, list[dict]] = {}
    for c in changes:
        by_tx.setdefault((bytes(c["__$start_lsn"]), c["CustomerID"]), []).append(c)
    reinserts = [cs for cs in by_tx.values() if [c["__$operation"] for c in cs] == [1, 2]]
    assert len(reinserts) >= len(SEEDED_DAYS)
    for deleted, inserted in reinserts:
        assert bytes(deleted["__$seqval"]) < bytes(inserted["__$seqval"])
        assert {k: deleted[k] for k in columns} == {k: inserted[k] for k in columns}
    keys = sorted({d["CustomerID"] for d, _ in reinserts})
    present = scalar(erp, f"SELECT count(*) FROM dbo.Customer WHERE CustomerID IN ({','.join(map(str, keys))})")
    assert present == len(keys)


def test_customers_change_every_day(erp: duckdb.DuckDBPyConnection) -> None:
    per_day = rows(
        erp,
        """
        SELECT m.tran_end_time::DATE AS day, list(DISTINCT c."__$operation" ORDER BY c."__$operation") AS ops
        FROM cdc."dbo_Customer_CT" c JOIN cdc.lsn_time_mapping m ON m.start_lsn = c."__$start_lsn"
        GROUP BY 1 ORDER BY 1
        """,
    )
    assert [r["day"] for r in per_day] == SEEDED_DAYS
    assert all(r["ops"] == [1, 2, 3, 4] for r in per_day)


def test_forecasts_cover_every_live_product_every_day_and_track_demand(erp: duckdb.DuckDBPyConnection) -> None:
    live = scalar(erp, "SELECT count(*) FROM Production.Product WHERE SellEndDate IS NULL")
    per_date = dict(erp.execute("SELECT ForecastDate, count(*) FROM Planning.SkuForecast GROUP BY 1").fetchall())
    horizon = [SEEDED_DAYS[-1] + dt.timedelta(days=k) for k in range(1, 7)]
    assert all(per_date.get(d) == live for d in SEEDED_DAYS + horizon)
    # Around demand overall, with per-SKU deviations for alerts to find.
    ratio = rows(
        erp,
        """
        WITH actual AS (
            SELECT h.OrderDate, d.ProductID, sum(d.OrderQty) AS qty
            FROM Sales.SalesOrderDetail d JOIN Sales.SalesOrderHeader h USING (SalesOrderID)
            GROUP BY ALL
        )
        SELECT sum(a.qty) / sum(f.PlannedQty) AS overall,
               count(*) FILTER (WHERE abs(a.qty - f.PlannedQty) > 0.5 * f.PlannedQty) AS far_off
        FROM Planning.SkuForecast f JOIN actual a ON a.ProductID = f.ProductID AND a.OrderDate = f.ForecastDate
        WHERE f.ForecastDate BETWEEN ? AND ?
        """,
        [SEEDED_DAYS[0], SEEDED_DAYS[-4]],
    )[0]
    assert 0.85 < ratio["overall"] < 1.15
    assert ratio["far_off"] > 0


def test_product_prices_change_after_the_days_orders(erp: duckdb.DuckDBPyConnection) -> None:
    changed = rows(erp, "SELECT ModifiedDate FROM Production.Product WHERE ModifiedDate >= ?", [SEEDED_DAYS[0]])
    assert changed
    assert all(r["ModifiedDate"].time() >= dt.time(23) for r in changed)
    assert scalar(erp, "SELECT min(ListPrice) FROM Production.Product") > Decimal(0)
