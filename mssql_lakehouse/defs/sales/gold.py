"""Gold sales: daily SKU sales, forecast alignment and the nightly SKU alerts."""

import datetime as dt

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.defs.inventory.common import POSITION as INVENTORY_POSITION
from mssql_lakehouse.defs.sales.checks import daily_sku_sales_checks, sku_alerts_checks, sku_forecast_alignment_checks
from mssql_lakehouse.defs.sales.common import SALES_DAILY, SPARK_RESOURCES
from mssql_lakehouse.defs.sales.resources import SkuAlertSettings
from mssql_lakehouse.lib.io.tables_resource import LakehouseTables
from mssql_lakehouse.lib.partitions import partition_window
from mssql_lakehouse.lib.pools import SALES_GOLD
from mssql_lakehouse.lib.step_cache import StepCache
from mssql_lakehouse.lib.transforms.sku_alerts import sku_alerts as build_alerts
from mssql_lakehouse.lib.transforms.sku_metrics import ROLLING_DAYS, forecast_alignment
from mssql_lakehouse.lib.transforms.sku_metrics import daily_sku_sales as aggregate_sales

DAILY_SKU_SALES = dg.AssetKey(["gold", "daily_sku_sales"])
ALIGNMENT = dg.AssetKey(["gold", "sku_forecast_alignment"])
ALERTS = dg.AssetKey(["gold", "sku_alerts"])

# Gold tables hold about 1 KB a day (scale 0.05; 20 KB at scale 1): partitioned by day, a 90-day
# table is at least 90 tiny files (360 were measured 5x slower to read whole than 4, in
# benchmarks/table_layout.py). Unpartitioned, a write of one day conflicts with a concurrent write
# of another and is retried, which costs little for tables this small.
SMALL_TABLE = {"delta_partition_by": []}

# Gold steps of any two runs take turns (see lib/pools.py): each reads silver when it starts, so the
# last one to commit a day has read every silver merge that came before it.
SALES_GOLD_DAILY = {**SALES_DAILY, "pool": SALES_GOLD}

TRAILING_WEEK = dg.TimeWindowPartitionMapping(
    start_offset=-(ROLLING_DAYS - 1), allow_nonexistent_upstream_partitions=True
)


def _dates(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    window = partition_window(context)
    return window.start.date(), window.end.date()


@dg.asset(
    key=DAILY_SKU_SALES,
    ins={"lines": dg.AssetIn(["silver", "sales_order_lines"]), "orders": dg.AssetIn(["silver", "sales_orders"])},
    metadata={"partition_expr": "order_date", **SMALL_TABLE},
    check_specs=daily_sku_sales_checks(DAILY_SKU_SALES),
    **SALES_GOLD_DAILY,
)
def daily_sku_sales(context: dg.AssetExecutionContext, lines: DataFrame, orders: DataFrame):
    """Per order date and SKU: quantity, net revenue (cent-exact decimal) and order count."""
    with StepCache() as cache:
        sales = cache(aggregate_sales(lines, orders))
        yield dg.Output(sales)
        live = lines.join(orders.where("status != 6").select("sales_order_id"), "sales_order_id")
        expected = live.agg(F.sum("order_qty").alias("q"), F.sum("line_net_amount").alias("r")).collect()[0]
        actual = sales.agg(F.sum("quantity").alias("q"), F.sum("net_revenue").alias("r")).collect()[0]
        yield dg.AssetCheckResult(
            check_name="totals_match_silver",
            passed=(expected["q"] or 0) == (actual["q"] or 0) and (expected["r"] or 0) == (actual["r"] or 0),
            metadata={
                "silver_quantity": int(expected["q"] or 0),
                "gold_quantity": int(actual["q"] or 0),
                "silver_net_revenue": str(expected["r"] or 0),
                "gold_net_revenue": str(actual["r"] or 0),
            },
        )


@dg.asset(
    key=ALIGNMENT,
    ins={
        "sales": dg.AssetIn(DAILY_SKU_SALES, partition_mapping=TRAILING_WEEK),
        "forecasts": dg.AssetIn(["bronze", "sku_forecasts"], partition_mapping=TRAILING_WEEK),
        "products": dg.AssetIn(["bronze", "products"]),
    },
    metadata={"partition_expr": "date", **SMALL_TABLE},
    check_specs=sku_forecast_alignment_checks(ALIGNMENT),
    **SALES_GOLD_DAILY,
)
def sku_forecast_alignment(
    context: dg.AssetExecutionContext, sales: DataFrame, forecasts: DataFrame, products: DataFrame
):
    """Per date and SKU: actual vs forecast quantity, deviation and the rolling 7-day deviation."""
    start, end = _dates(context)
    skus = products.select(F.col("ProductID").alias("product_id"), F.col("ProductNumber").alias("sku")).distinct()
    planned = forecasts.select(
        F.col("ProductID").alias("product_id"),
        F.col("ForecastDate").cast("date").alias("forecast_date"),
        F.col("PlannedQty").alias("planned_qty"),
    ).join(skus, "product_id")
    with StepCache() as cache:
        aligned = cache(forecast_alignment(sales, planned, start, end))
        yield dg.Output(aligned)
        in_window = planned.where((F.col("forecast_date") >= F.lit(start)) & (F.col("forecast_date") < F.lit(end)))
        missing = in_window.select(F.col("forecast_date").alias("date"), "sku").subtract(
            aligned.where("forecast_qty IS NOT NULL").select("date", "sku")
        )
        missing_count = missing.count()
        yield dg.AssetCheckResult(
            check_name="covers_every_forecast_sku",
            passed=missing_count == 0,
            metadata={"forecast_rows": in_window.count(), "missing_from_alignment": missing_count},
        )


def _inventory_positions(context: dg.AssetExecutionContext) -> DataFrame | None:
    tables: LakehouseTables = context.resources.tables
    location = tables.location(INVENTORY_POSITION)
    spark = context.resources.spark.get_session()
    if not location.exists(spark):
        return None
    start, end = _dates(context)
    return location.read(spark).where((F.col("position_date") >= F.lit(start)) & (F.col("position_date") < F.lit(end)))


@dg.asset(
    key=ALERTS,
    ins={"alignment": dg.AssetIn(ALIGNMENT)},
    metadata={"partition_expr": "alert_date", **SMALL_TABLE},
    check_specs=sku_alerts_checks(ALERTS),
    **{**SALES_GOLD_DAILY, "required_resource_keys": SPARK_RESOURCES | {"sku_alert_settings", "tables"}},
)
def sku_alerts(context: dg.AssetExecutionContext, alignment: DataFrame):
    """The nightly SKU alerts for planners: over-forecast, under-forecast, sudden drops and stock-out risks.

    Stock-out risks come from the inventory use case's ``gold/inventory_position`` of the same
    days, when the lakehouse has it (the sales slice runs without it).
    """
    sku_alert_settings: SkuAlertSettings = context.resources.sku_alert_settings
    with StepCache() as cache:
        alerts = cache(build_alerts(alignment, sku_alert_settings.thresholds(), _inventory_positions(context)))
        yield dg.Output(alerts)
        numbers = ["actual_qty", "forecast_qty", "deviation_qty", "deviation_pct", "message"]
        without_numbers = alerts.where(" OR ".join(f"{c} IS NULL" for c in numbers)).count()
        yield dg.AssetCheckResult(
            check_name="alerts_have_numbers",
            passed=without_numbers == 0,
            metadata={"alerts_missing_numbers": without_numbers},
        )
        allowed = list(sku_alert_settings.severities)
        bad = alerts.where(~F.col("severity").isin(allowed)).count()
        counts = {r["severity"]: r["count"] for r in alerts.groupBy("severity").count().collect()}
        yield dg.AssetCheckResult(
            check_name="severity_in_configured_set",
            passed=bad == 0,
            metadata={
                "allowed": ", ".join(allowed),
                "outside_set": bad,
                **{f"alerts_{k}": v for k, v in counts.items()},
            },
        )
