"""Sales orders from bronze to silver: typing, deletes, validation and quarantine.

Bronze keeps SQL Server's names and types; silver is snake_case, typed, one row
per key. The modification order of a row is its ``rowversion`` (``row_version``):
SQL Server bumps it on every change, so it orders versions of a row even where
``ModifiedDate`` (maintained by the application) does not.

Deletes come from CDC: a delete row carries the deleted row's last
``rowversion``. Applying every known delete to the rows being merged (not just
the deletes of this window) is what makes a replayed old window unable to bring
a deleted row back.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.lib.io.compilation import local_checkpoint
from mssql_lakehouse.lib.transforms.naming import to_snake_case

HEADER_TABLE = "Sales.SalesOrderHeader"
DETAIL_TABLE = "Sales.SalesOrderDetail"
CANCELLED_STATUS = 6

_RENAMES = {"RowVer": "row_version", "rowguid": "row_guid"}
MONEY = "decimal(19,4)"


def orders_from_bronze(header: DataFrame) -> DataFrame:
    """Typed, snake_case sales order headers (bronze extraction columns dropped)."""
    typed = header.select(
        F.col("SalesOrderID").cast("int"),
        F.col("RevisionNumber").cast("int"),
        F.col("OrderDate").cast("date"),
        F.col("DueDate").cast("date"),
        F.col("ShipDate").cast("date"),
        F.col("Status").cast("int"),
        F.col("CustomerID").cast("int"),
        F.col("SubTotal").cast(MONEY),
        F.col("TaxAmt").cast(MONEY),
        F.col("Freight").cast(MONEY),
        F.col("rowguid").cast("string"),
        F.col("ModifiedDate"),
        F.col("RowVer").cast("bigint"),
    )
    return to_snake_case(typed, _RENAMES)


def lines_from_bronze(detail: DataFrame) -> DataFrame:
    """Typed, snake_case order lines with their net amount (cent-exact decimal)."""
    typed = detail.select(
        F.col("SalesOrderID").cast("int"),
        F.col("SalesOrderDetailID").cast("int"),
        F.col("ProductID").cast("int"),
        F.col("OrderQty").cast("int"),
        F.col("UnitPrice").cast(MONEY),
        F.col("UnitPriceDiscount").cast(MONEY),
        F.col("rowguid").cast("string"),
        F.col("ModifiedDate"),
        F.col("RowVer").cast("bigint"),
    )
    lines = to_snake_case(typed, _RENAMES)
    return lines.withColumn(
        "line_net_amount", line_net_amount(F.col("order_qty"), F.col("unit_price"), F.col("unit_price_discount"))
    )


def line_net_amount(qty: Column, unit_price: Column, discount: Column) -> Column:
    """qty x price x (1 - discount), rounded half-up to the cent, in decimal arithmetic (never float)."""
    exact = qty.cast("decimal(10,0)") * unit_price * (F.lit(1).cast("decimal(1,0)") - discount)
    return F.round(exact, 2).cast(MONEY)


def delete_markers(deletes: DataFrame, table: str, keys: dict[str, str]) -> DataFrame:
    """The CDC deletes of one source table as silver-keyed markers with the deleted row's version.

    ``keys`` maps bronze key columns to silver names.
    """
    return deletes.where(F.col("source_table") == table).select(
        *[F.col(src).cast("int").alias(dst) for src, dst in keys.items()],
        F.col("RowVer").cast("bigint").alias("row_version"),
    )


def without_deleted(rows: DataFrame, markers: DataFrame, keys: list[str]) -> DataFrame:
    """Drop row versions that a known delete supersedes (delete version >= row version).

    A delete wins a tie: it carries the deleted row's last ``rowversion``, which is the version
    of the live row it deletes. Apply it to every row a merge will write (rows re-read from
    silver too), so the rows handed to the merge never hold a live version that a delete
    marker of the same batch supersedes.
    """
    latest_delete = markers.groupBy(*keys).agg(F.max("row_version").alias("_deleted_version"))
    return (
        rows.join(latest_delete, keys, "left")
        .where(F.col("_deleted_version").isNull() | (F.col("row_version") > F.col("_deleted_version")))
        .drop("_deleted_version")
    )


def with_delete_flag(rows: DataFrame, markers: DataFrame) -> DataFrame:
    """Rows to merge plus delete markers, told apart by ``is_deleted`` (the IO manager's delete flag)."""
    live = rows.withColumn("is_deleted", F.lit(False))
    return live.unionByName(markers.withColumn("is_deleted", F.lit(True)), allowMissingColumns=True)


def validate_lines(lines: DataFrame, products: DataFrame, orders: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Split lines into valid lines (with ``sku`` and ``order_date``) and rejected lines with a reason.

    ``products`` holds daily catalogue snapshots: ``product_id``, ``sku``, ``snapshot_date``. A line
    takes its SKU from the snapshot of the day it was modified, the catalogue it was written
    against, so a SKU renamed or removed on a later day changes neither a replay nor a backfill of
    the line's day. A line that already has a ``sku`` (a line waiting in silver for its order,
    validated on its own day) keeps it.

    ``orders`` needs ``sales_order_id``, ``order_date``. A line whose order is not in silver yet is
    valid but waits with a null ``order_date``: its header may simply be extracted on a later day
    (see :func:`lines_awaiting_header`).

    The lines are checked once (a local checkpoint) and both parts read that: the two writes see
    the same checked rows, and the inputs are not read and joined again for each part and for
    each pass of the merge over it.
    """
    catalogue = products.select(
        "product_id", F.col("snapshot_date").alias("_line_day"), F.col("sku").alias("_catalogue_sku")
    )
    own_sku = F.col("sku") if "sku" in lines.columns else F.lit(None).cast("string")
    enriched = (
        lines.withColumn("_line_day", F.to_date("modified_date"))
        .join(catalogue, ["product_id", "_line_day"], "left")
        .withColumn("sku", F.coalesce(own_sku, F.col("_catalogue_sku")))
        .drop("_line_day", "_catalogue_sku")
        .join(orders.select("sales_order_id", "order_date"), "sales_order_id", "left")
    )
    reason = (
        F.when(F.col("sales_order_id").isNull() | F.col("sales_order_detail_id").isNull(), "null key")
        .when(F.col("product_id").isNull(), "null product_id")
        .when(F.col("order_qty") < 0, "negative quantity")
        .when(F.col("sku").isNull(), "unknown SKU")
    )
    checked = local_checkpoint(enriched.withColumn("_reason", reason))
    valid = checked.where(F.col("_reason").isNull()).drop("_reason")
    rejected = checked.where(F.col("_reason").isNotNull())
    return valid, rejected


def lines_awaiting_header(silver_lines: DataFrame) -> DataFrame:
    """Silver lines still without their order, with the SKU their own day gave them, to date again."""
    return silver_lines.where(F.col("order_date").isNull()).drop("order_date")


def quarantine_records(
    rejected: DataFrame, source_table: str, key_columns: list[str], record_columns: list[str]
) -> DataFrame:
    """Rejected rows as quarantine records: where from, which key, why, and the row itself as JSON.

    ``record_columns`` are the row's own columns (not what validation looked up for it). A record
    belongs to the day its source row was modified, the partition that extracted it.
    """
    return rejected.select(
        F.to_date("modified_date").alias("partition_date"),
        F.lit(source_table).alias("source_table"),
        F.concat_ws("|", *[F.coalesce(F.col(k).cast("string"), F.lit("NULL")) for k in key_columns]).alias(
            "record_key"
        ),
        F.col("_reason").alias("reason"),
        F.to_json(F.struct(*record_columns)).alias("record"),
    )
