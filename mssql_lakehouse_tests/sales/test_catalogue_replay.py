"""A replayed sales day sees the product catalogue it saw, not today's.

``Production.Product`` keeps no history, so the ERP changes its catalogue in place: a SKU
renamed, a product removed, a product added. A replay of an earlier day must leave that
day's catalogue snapshot, its silver lines and quarantine, and its gold sales as they were.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
from deltalake import DeltaTable

from mssql_lakehouse.defs.sales import gold, silver
from mssql_lakehouse_demo import db
from mssql_lakehouse_demo.schema import erp_path
from mssql_lakehouse_tests.sales.conftest import FIRST_DAY, Lakehouse

DAY = FIRST_DAY.isoformat()
# What a replayed day must leave exactly as it was: (table, partition column).
REPLAYED = [
    (("bronze", "products"), "snapshot_date"),
    (("silver", "sales_order_lines"), "order_date"),
    (("silver", "sales_quarantine"), "partition_date"),
    (("gold", "daily_sku_sales"), "order_date"),
]

daily_sku_sales_job = dg.define_asset_job(
    "daily_sku_sales_from_the_erp",
    selection=dg.AssetSelection.assets(gold.DAILY_SKU_SALES, silver.QUARANTINE).upstream(),
)
JOBS = [daily_sku_sales_job]


def _day_rows(lh: Lakehouse, table: tuple[str, str], column: str) -> list[dict]:
    """The day's rows of a table as a user reads them (deltalake, every column), sorted."""
    rows = DeltaTable(lh.path(*table)).to_pyarrow_table().to_pylist()
    return sorted((r for r in rows if str(r[column]) == DAY), key=repr)


def _change_catalogue(lh: Lakehouse, renamed: int, removed: int) -> None:
    """What the ERP does to its catalogue after the day: rename a SKU, remove a product, add one."""
    with db.connect(erp_path(lh.demo_dir)) as con:
        later = dt.datetime.combine(FIRST_DAY + dt.timedelta(days=3), dt.time(12))
        con.execute(
            'UPDATE "Production"."Product" SET "ProductNumber" = ?, "ModifiedDate" = ? WHERE "ProductID" = ?',
            ["SKU-RENAMED", later, renamed],
        )
        con.execute('DELETE FROM "Production"."Product" WHERE "ProductID" = ?', [removed])
        con.execute(
            """INSERT INTO "Production"."Product"
               SELECT 98765, 'Added later', 'SKU-ADDED', "Color", "StandardCost", "ListPrice", ?, NULL, uuid(), ?
               FROM "Production"."Product" WHERE "ProductID" = ?""",
            [later, later, renamed],
        )


def test_a_replayed_day_keeps_the_catalogue_it_saw(make_lakehouse):
    lh = make_lakehouse("catalogue_replay")
    lh.seed(days=1)
    lh.run(DAY, job=daily_sku_sales_job.name)
    before = {table: _day_rows(lh, table, column) for table, column in REPLAYED}
    sold = sorted({r["product_id"] for r in before[("silver", "sales_order_lines")]})
    assert len(sold) >= 2, "the demo day should sell several products"

    _change_catalogue(lh, renamed=sold[0], removed=sold[1])
    lh.run(DAY, job=daily_sku_sales_job.name)

    for table, column in REPLAYED:
        assert _day_rows(lh, table, column) == before[table], "/".join(table)
