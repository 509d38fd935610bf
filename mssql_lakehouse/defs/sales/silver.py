"""Silver sales: typed, one row per key, merged from bronze, deletes applied, bad lines quarantined."""

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.defs.sales.common import SALES_DAILY, SPARK_RESOURCES
from mssql_lakehouse.lib.partitions import partition_window
from mssql_lakehouse.lib.transforms.sales import (
    DETAIL_TABLE,
    HEADER_TABLE,
    delete_markers,
    lines_awaiting_header,
    lines_from_bronze,
    orders_from_bronze,
    quarantine_records,
    validate_lines,
    with_delete_flag,
    without_deleted,
)

ORDERS = dg.AssetKey(["silver", "sales_orders"])
LINES = dg.AssetKey(["silver", "sales_order_lines"])
QUARANTINE = dg.AssetKey(["silver", "sales_quarantine"])

DELETES = dg.AssetKey(["bronze", "sales_order_deletes"])
# Silver rows are merged by key across the whole table (a late update changes an old order); the
# order date is the partition column downstream gold partitions read by.
MERGE = {
    "write_mode": "merge",
    "merge_order_by": ["row_version"],
    "merge_delete_flag": "is_deleted",
    "merge_scope": "table",
}


def _in_window(df: DataFrame, column: str, window: dg.TimeWindow) -> DataFrame:
    start, end = (w.replace(tzinfo=None) for w in (window.start, window.end))
    return df.where((F.col(column) >= F.lit(start)) & (F.col(column) < F.lit(end)))


def _whole(context: dg.AssetExecutionContext, key: dg.AssetKey) -> DataFrame:
    """Every row of ``key``'s table, whatever its day.

    A day's silver reads every delete and every order known so far, but depends on the same day of
    those tables only (a ``deps`` entry, identity-mapped): a partition mapping from every day would
    make each day downstream of all of them, and a backfill of two days would target the whole history.
    """
    return context.resources.tables.location(key).read(context.resources.spark.get_session())


@dg.asset(
    key=ORDERS,
    ins={"header": dg.AssetIn(["bronze", "sales_order_header"])},
    deps=[DELETES],
    metadata={"partition_expr": "order_date", "merge_keys": ["sales_order_id"], **MERGE},
    **{**SALES_DAILY, "required_resource_keys": SPARK_RESOURCES | {"tables"}},
)
def sales_orders(context: dg.AssetExecutionContext, header: DataFrame) -> DataFrame:
    """Sales orders, one row per order: the latest version by rowversion; deleted orders removed.

    Deletes come from SQL Server CDC on Sales.SalesOrderHeader (delete rows of the window's
    LSN range); every known delete is applied, so replaying an old window cannot resurrect an order.
    """
    keys = {"SalesOrderID": "sales_order_id"}
    deletes = _whole(context, DELETES)
    all_deleted = delete_markers(deletes, HEADER_TABLE, keys)
    window_deletes = delete_markers(_in_window(deletes, "commit_time", partition_window(context)), HEADER_TABLE, keys)
    orders = without_deleted(orders_from_bronze(header), all_deleted, ["sales_order_id"])
    return with_delete_flag(orders, window_deletes)


@dg.multi_asset(
    outs={
        "sales_order_lines": dg.AssetOut(
            key=LINES,
            metadata={
                "partition_expr": "order_date",
                "merge_keys": ["sales_order_id", "sales_order_detail_id"],
                **MERGE,
            },
            kinds={"pyspark", "delta"},
            description="Order lines, one row per line with SKU, order date and cent-exact net amount.",
        ),
        "sales_quarantine": dg.AssetOut(
            key=QUARANTINE,
            metadata={"partition_expr": "partition_date"},
            kinds={"pyspark", "delta"},
            description="Lines that failed validation (null keys, negative quantity, unknown SKU), with the"
            " reason and the row as JSON; replaced per partition.",
        ),
    },
    ins={"detail": dg.AssetIn(["bronze", "sales_order_detail"]), "products": dg.AssetIn(["bronze", "products"])},
    deps=[DELETES, ORDERS],
    partitions_def=SALES_DAILY["partitions_def"],
    backfill_policy=SALES_DAILY["backfill_policy"],
    group_name=SALES_DAILY["group_name"],
    required_resource_keys=SPARK_RESOURCES | {"tables"},
)
def sales_order_lines(context: dg.AssetExecutionContext, detail: DataFrame, products: DataFrame):
    """Validate the window's order lines and merge the valid ones; reject the rest to quarantine."""
    deletes, orders = _whole(context, DELETES), _whole(context, ORDERS)
    keys = {"SalesOrderID": "sales_order_id", "SalesOrderDetailID": "sales_order_detail_id"}
    key_names = list(keys.values())
    window = partition_window(context)
    all_deleted = delete_markers(deletes, DETAIL_TABLE, keys)
    window_deletes = delete_markers(_in_window(deletes, "commit_time", window), DETAIL_TABLE, keys)
    lines = lines_from_bronze(detail)
    # A quarantine record holds the line as extracted, not what validation looked up for it.
    own_columns = lines.columns
    # Lines that arrived before their order get their order date once the order is in silver.
    spark = context.resources.spark.get_session()
    existing = context.resources.tables.location(LINES)
    if existing.exists(spark):
        lines = lines.unionByName(lines_awaiting_header(existing.read(spark)), allowMissingColumns=True)
    # Deletes go last, over every line this run merges: a waiting line deleted since it was
    # stored must not be merged back as live.
    lines = without_deleted(lines, all_deleted, key_names)
    skus = products.select(
        F.col("ProductID").alias("product_id"), F.col("ProductNumber").alias("sku"), "snapshot_date"
    ).distinct()
    valid, rejected = validate_lines(lines, skus, orders)
    quarantine = quarantine_records(rejected, DETAIL_TABLE, key_names, record_columns=own_columns)
    yield dg.Output(with_delete_flag(valid, window_deletes), output_name="sales_order_lines")
    yield dg.Output(quarantine, output_name="sales_quarantine")
