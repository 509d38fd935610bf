"""Checks on the silver sales tables, over the whole merged table (a key is unique table-wide)."""

import dagster as dg
from pyspark.sql import DataFrame

from mssql_lakehouse.defs.sales.silver import LINES, ORDERS, QUARANTINE
from mssql_lakehouse.lib.check_rules import not_null, unique_key

ORDER_KEYS = ["sales_order_id"]
LINE_KEYS = ["sales_order_id", "sales_order_detail_id"]


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec("unique_key", asset=ORDERS), dg.AssetCheckSpec("not_null_keys", asset=ORDERS)],
    ins={"orders": dg.AssetIn(ORDERS)},
)
def sales_orders_keys(orders: DataFrame):
    """One row per order, and no order without its key."""
    yield unique_key(ORDERS, orders, ORDER_KEYS)
    yield not_null(ORDERS, orders, ORDER_KEYS)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec("unique_key", asset=LINES),
        dg.AssetCheckSpec("not_null_keys", asset=LINES),
        dg.AssetCheckSpec(
            "every_line_has_header",
            asset=LINES,
            additional_deps=[ORDERS],
            description="Warns while lines wait for an order that has not been extracted yet.",
        ),
    ],
    ins={"lines": dg.AssetIn(LINES), "orders": dg.AssetIn(ORDERS)},
)
def sales_order_lines_integrity(lines: DataFrame, orders: DataFrame):
    """One row per line, keys present, and every line belongs to an order in silver."""
    yield unique_key(LINES, lines, LINE_KEYS)
    yield not_null(LINES, lines, [*LINE_KEYS, "product_id", "sku"])
    orphans = lines.join(orders.select("sales_order_id"), "sales_order_id", "left_anti")
    count = orphans.count()
    yield dg.AssetCheckResult(
        asset_key=LINES,
        check_name="every_line_has_header",
        passed=count == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"lines_without_header": count},
    )


@dg.asset_check(asset=QUARANTINE)
def quarantine_count(sales_quarantine: DataFrame) -> dg.AssetCheckResult:
    """Reports how many rows are held in quarantine, by reason (a warning when there are any)."""
    by_reason = {r["reason"]: r["count"] for r in sales_quarantine.groupBy("reason").count().collect()}
    total = sum(by_reason.values())
    return dg.AssetCheckResult(
        passed=total == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined_rows": total, **{f"reason: {k}": v for k, v in sorted(by_reason.items())}},
    )
