"""Gold sales metrics per day and SKU, and their alignment with the planning forecast."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from mssql_lakehouse.lib.transforms.sales import CANCELLED_STATUS, MONEY

ROLLING_DAYS = 7


def daily_sku_sales(lines: DataFrame, orders: DataFrame) -> DataFrame:
    """Quantity, net revenue and order count per order date and SKU (cancelled orders excluded)."""
    live_orders = orders.where(F.col("status") != CANCELLED_STATUS).select("sales_order_id")
    return (
        lines.join(live_orders, "sales_order_id")
        .groupBy("order_date", "sku")
        .agg(
            F.sum("order_qty").cast("bigint").alias("quantity"),
            F.sum("line_net_amount").cast(MONEY).alias("net_revenue"),
            F.countDistinct("sales_order_id").cast("bigint").alias("order_count"),
        )
    )


def forecast_alignment(sales: DataFrame, forecasts: DataFrame, start: dt.date, end: dt.date) -> DataFrame:
    """Actual vs forecast quantity per date and SKU in ``[start, end)``.

    ``sales`` and ``forecasts`` must cover the six days before ``start`` too, for
    the rolling 7-day deviation. Every SKU with a forecast gets a row (actual 0 when
    nothing sold); sales of a SKU without a forecast get a row with a null forecast.
    """
    actual = sales.select(F.col("order_date").alias("date"), "sku", F.col("quantity").alias("actual_qty"))
    planned = forecasts.select(
        F.col("forecast_date").alias("date"), "sku", F.col("planned_qty").cast("bigint").alias("forecast_qty")
    )
    joined = actual.join(planned, ["date", "sku"], "full_outer").withColumn(
        "actual_qty", F.coalesce("actual_qty", F.lit(0)).cast("bigint")
    )
    deviation = F.col("actual_qty") - F.col("forecast_qty")
    day_number = F.datediff(F.col("date"), F.lit(dt.date(2000, 1, 1)))
    trailing = Window.partitionBy("sku").orderBy(day_number).rangeBetween(-(ROLLING_DAYS - 1), 0)
    aligned = (
        joined.withColumn("deviation_qty", deviation)
        .withColumn(
            "deviation_pct",
            F.when(F.col("forecast_qty") > 0, F.round(deviation / F.col("forecast_qty"), 4)).cast("double"),
        )
        .withColumn("rolling_7d_deviation_qty", F.sum("deviation_qty").over(trailing).cast("bigint"))
        .withColumn("rolling_7d_actual_qty", F.sum("actual_qty").over(trailing).cast("bigint"))
        .withColumn("rolling_7d_forecast_qty", F.sum("forecast_qty").over(trailing).cast("bigint"))
    )
    return aligned.where((F.col("date") >= F.lit(start)) & (F.col("date") < F.lit(end)))
