"""Order lines that wait in silver for their order: a deleted one never comes back, and each keeps
the SKU of its own day's catalogue, in silver and in gold.

Bronze is landed by hand, day by day as the ERP extraction would land it, so the tests can
build what the demo ERP never produces: lines extracted a day before their order, one of them
deleted on the day its order arrives, the delete carrying the line's own (unchanged) rowversion;
a product renamed in the catalogue of the day the order arrives.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import dagster as dg
import pytest
from deltalake import DeltaTable
from pyspark.sql import DataFrame

from mssql_lakehouse.defs.sales import gold, silver
from mssql_lakehouse.lib.transforms.sales import DETAIL_TABLE
from mssql_lakehouse_tests.sales.conftest import Lakehouse

DAY_1, DAY_2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)

silver_and_daily_sales = dg.define_asset_job(
    "silver_and_daily_sku_sales",
    selection=dg.AssetSelection.assets(silver.ORDERS, silver.LINES, silver.QUARANTINE, gold.DAILY_SKU_SALES),
)
JOBS = [silver_and_daily_sales]

HEADER = (
    "SalesOrderID int, RevisionNumber int, OrderDate timestamp_ntz, DueDate timestamp_ntz, ShipDate timestamp_ntz,"
    " Status int, CustomerID int, SubTotal decimal(19,4), TaxAmt decimal(19,4), Freight decimal(19,4),"
    " rowguid string, ModifiedDate timestamp_ntz, RowVer bigint"
)
DETAIL = (
    "SalesOrderID int, SalesOrderDetailID int, ProductID int, OrderQty int, UnitPrice decimal(19,4),"
    " UnitPriceDiscount decimal(19,4), rowguid string, ModifiedDate timestamp_ntz, RowVer bigint"
)
DELETES = "source_table string, SalesOrderID int, SalesOrderDetailID int, RowVer bigint, commit_time timestamp_ntz"
PRODUCTS = "ProductID int, ProductNumber string, snapshot_date date"


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour))


def _order(order_id: int, order_date: dt.date, modified: dt.datetime, row_version: int) -> tuple:
    when = dt.datetime.combine(order_date, dt.time())
    return (
        order_id,
        1,
        when,
        when,
        None,
        1,
        7,
        Decimal(0),
        Decimal(0),
        Decimal(0),
        f"o{order_id}",
        modified,
        row_version,
    )


def _line(order_id: int, line_id: int, product_id: int, qty: int, modified: dt.datetime, row_version: int) -> tuple:
    return (order_id, line_id, product_id, qty, Decimal("10.0000"), Decimal(0), f"l{line_id}", modified, row_version)


def _line_delete(order_id: int, line_id: int, row_version: int, committed: dt.datetime) -> tuple:
    return (DETAIL_TABLE, order_id, line_id, row_version, committed)


# What the ERP's extraction lands for each day.
BRONZE = {
    DAY_1: {
        # Order 1 with a line that stays.
        "sales_order_header": [_order(1, DAY_1, _at(DAY_1, 9), 100)],
        "sales_order_detail": [
            _line(1, 11, 501, 2, _at(DAY_1, 9), 101),
            # Two lines of order 2, whose header is only extracted on day 2: they wait in silver.
            _line(2, 21, 501, 5, _at(DAY_1, 23), 110),
            _line(2, 22, 502, 3, _at(DAY_1, 23), 111),
        ],
        "sales_order_deletes": [],
    },
    DAY_2: {
        "sales_order_header": [_order(2, DAY_2, _at(DAY_2, 1), 200), _order(3, DAY_2, _at(DAY_2, 8), 210)],
        "sales_order_detail": [
            # Inserted and deleted on day 2: bronze holds its last version and its delete.
            _line(3, 31, 502, 4, _at(DAY_2, 8), 211),
        ],
        "sales_order_deletes": [
            # Line 21 (still waiting for its order) is deleted the day its order arrives; a
            # delete carries the deleted row's last rowversion, the one silver holds.
            _line_delete(2, 21, 110, _at(DAY_2, 2)),
            _line_delete(3, 31, 211, _at(DAY_2, 9)),
        ],
    },
}
SCHEMAS = {"sales_order_header": HEADER, "sales_order_detail": DETAIL, "sales_order_deletes": DELETES}
PARTITION_COLUMNS = {
    "sales_order_header": "ModifiedDate",
    "sales_order_detail": "ModifiedDate",
    "sales_order_deletes": "commit_time",
}

# The catalogue snapshot of each day: product -> SKU.
CATALOGUES = {DAY_1: {501: "SKU-501", 502: "SKU-502"}, DAY_2: {501: "SKU-501", 502: "SKU-502"}}
# Product 502 is renamed on day 2, after line 22 was written against the day-1 catalogue.
RENAMED_ON_DAY_2 = {**CATALOGUES, DAY_2: {501: "SKU-501", 502: "SKU-502-B"}}

# Lines 21 and 31 were deleted; line 22 found its order on day 2, and keeps its day-1 SKU.
LIVE_LINES = {(1, 11): "SKU-501", (2, 22): "SKU-502"}
GOLD = {(DAY_1, "SKU-501"): (2, Decimal("20.0000"), 1), (DAY_2, "SKU-502"): (3, Decimal("30.0000"), 1)}


def _land(lh: Lakehouse, day: dt.date, catalogues: dict[dt.date, dict[int, str]] = CATALOGUES) -> None:
    """Write a day's bronze rows and catalogue snapshot into their day's partition, as that day's extraction would."""
    spark = lh.spark
    next_day = day + dt.timedelta(days=1)
    for name, rows in BRONZE[day].items():
        df: DataFrame = spark.createDataFrame(rows, SCHEMAS[name])
        column = PARTITION_COLUMNS[name]
        in_day = f"`{column}` >= TIMESTAMP_NTZ'{day}' AND `{column}` < TIMESTAMP_NTZ'{next_day}'"
        df.write.format("delta").mode("overwrite").option("replaceWhere", in_day).save(lh.path("bronze", name))
    catalogue = spark.createDataFrame([(p, sku, day) for p, sku in catalogues[day].items()], PRODUCTS)
    in_day = f"snapshot_date = DATE'{day}'"
    catalogue.write.format("delta").mode("overwrite").option("replaceWhere", in_day).save(lh.path("bronze", "products"))


def _run(lh: Lakehouse, first: dt.date, last: dt.date | None = None) -> None:
    lh.run(first.isoformat(), last.isoformat() if last else None, job=silver_and_daily_sales.name)


def _rows(lh: Lakehouse, layer: str, name: str) -> list[dict]:
    """A table as a user reads it (with the deltalake package, not Spark)."""
    return DeltaTable(lh.path(layer, name)).to_pyarrow_table().to_pylist()


def _assert_silver_and_gold(lh: Lakehouse) -> None:
    lines = {
        (r["sales_order_id"], r["sales_order_detail_id"]): r["sku"] for r in _rows(lh, "silver", "sales_order_lines")
    }
    assert lines == LIVE_LINES
    gold_rows = _rows(lh, "gold", "daily_sku_sales")
    assert {(r["order_date"], r["sku"]): (r["quantity"], r["net_revenue"], r["order_count"]) for r in gold_rows} == GOLD


def test_a_line_deleted_the_day_its_order_arrives_stays_deleted_when_days_run_in_order(make_lakehouse):
    lh = make_lakehouse("deletes_in_order")
    for day in (DAY_1, DAY_2):
        _land(lh, day)
        _run(lh, day)
    _assert_silver_and_gold(lh)

    # Replaying either day afterwards brings nothing back.
    for day in (DAY_1, DAY_2):
        _run(lh, day)
    _assert_silver_and_gold(lh)


def test_a_line_deleted_the_day_its_order_arrives_stays_deleted_in_a_backfill(make_lakehouse):
    lh = make_lakehouse("deletes_backfill")
    for day in (DAY_1, DAY_2):
        _land(lh, day)
    _run(lh, DAY_1, DAY_2)
    _assert_silver_and_gold(lh)


@pytest.mark.parametrize("backfill", [False, True], ids=["days_in_order", "backfill"])
def test_a_line_keeps_the_sku_of_its_own_days_catalogue(make_lakehouse, backfill):
    lh = make_lakehouse(f"renamed_sku_{'backfill' if backfill else 'in_order'}")
    for day in (DAY_1, DAY_2):
        _land(lh, day, RENAMED_ON_DAY_2)
        if not backfill:
            _run(lh, day)
    if backfill:
        _run(lh, DAY_1, DAY_2)
    _assert_silver_and_gold(lh)
    assert _rows(lh, "silver", "sales_quarantine") == []
