"""The nightly SKU alerts: where actual sales and the planning forecast part ways."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

SEVERITIES = ("low", "medium", "high")


@dataclass(frozen=True)
class AlertThresholds:
    over_forecast_pct: float = 0.3
    under_forecast_pct: float = 0.3
    sudden_drop_pct: float = 0.6
    min_forecast_qty: int = 5
    medium_pct: float = 0.5
    high_pct: float = 1.0
    stock_out_medium_days_of_cover: float = 1.0


def _severity(magnitude: Column, t: AlertThresholds) -> Column:
    return F.when(magnitude >= t.high_pct, "high").when(magnitude >= t.medium_pct, "medium").otherwise("low")


def stock_out_alerts(base: DataFrame, positions: DataFrame, t: AlertThresholds) -> DataFrame:
    """``stock_out_risk``: a forecast SKU whose inventory position flags a stock-out risk in any region.

    One alert per SKU and day, with the total on hand and the shortest cover of the regions at
    risk; ``high`` when a region has nothing on hand, ``medium`` under a day of cover (by default).
    """
    at_risk = (
        positions.where("stock_out_risk")
        .groupBy(F.col("position_date").alias("date"), "sku")
        .agg(
            F.sum("on_hand").cast("bigint").alias("on_hand"),
            F.min("on_hand").alias("_min_on_hand"),
            F.min("days_of_cover").alias("days_of_cover"),
            F.concat_ws(", ", F.array_sort(F.collect_set("region"))).alias("_regions"),
        )
    )
    severity = (
        F.when(F.col("_min_on_hand") <= 0, "high")
        .when(F.col("days_of_cover") < t.stock_out_medium_days_of_cover, "medium")
        .otherwise("low")
    )
    return base.join(at_risk, ["date", "sku"]).select(
        "*", F.lit("stock_out_risk").alias("alert_type"), severity.alias("severity")
    )


def sku_alerts(alignment: DataFrame, t: AlertThresholds, positions: DataFrame | None = None) -> DataFrame:
    """One row per alert: alert date, SKU, type, severity, the numbers behind it and a message.

    - ``over_forecast`` / ``under_forecast``: the day's actual is at least the threshold above
      or below a forecast of at least ``min_forecast_qty``;
    - ``sudden_drop``: the day's actual fell by at least ``sudden_drop_pct`` against the average
      of the six days before (a drop the forecast may not explain);
    - ``stock_out_risk``: when inventory ``positions`` (``gold/inventory_position``) are given,
      see :func:`stock_out_alerts`.
    """
    trailing_days = 6
    prior_avg = (F.col("rolling_7d_actual_qty") - F.col("actual_qty")) / F.lit(trailing_days)
    base = alignment.where(F.col("forecast_qty") >= t.min_forecast_qty).withColumn(
        "prior_avg_qty", F.round(prior_avg, 2).cast("double")
    )
    over = base.where(F.col("deviation_pct") >= t.over_forecast_pct).select(
        "*", F.lit("over_forecast").alias("alert_type"), F.col("deviation_pct").alias("_magnitude")
    )
    under = base.where(F.col("deviation_pct") <= -t.under_forecast_pct).select(
        "*", F.lit("under_forecast").alias("alert_type"), (-F.col("deviation_pct")).alias("_magnitude")
    )
    drop_pct = 1 - F.col("actual_qty") / F.col("prior_avg_qty")
    drop = base.where((F.col("prior_avg_qty") >= t.min_forecast_qty) & (drop_pct >= t.sudden_drop_pct)).select(
        "*", F.lit("sudden_drop").alias("alert_type"), F.round(drop_pct, 4).alias("_magnitude")
    )

    alerts = (
        over.unionByName(under)
        .unionByName(drop)
        .select(
            "*",
            _severity(F.col("_magnitude"), t).alias("severity"),
            F.lit(None).cast("bigint").alias("on_hand"),
            F.lit(None).cast("double").alias("days_of_cover"),
            F.lit(None).cast("string").alias("_regions"),
        )
    )
    if positions is not None:
        alerts = alerts.unionByName(stock_out_alerts(base, positions, t), allowMissingColumns=True)
    sales = F.format_string(
        "%s on %s: sold %d vs forecast %d (%+.0f%%), 7-day deviation %+d units",
        F.col("alert_type"),
        F.col("sku"),
        F.col("actual_qty"),
        F.col("forecast_qty"),
        F.col("deviation_pct") * 100,
        F.col("rolling_7d_deviation_qty"),
    )
    stock = F.format_string(
        "%s on %s: %d on hand (%s), %s days of cover; sold %d vs forecast %d",
        F.col("alert_type"),
        F.col("sku"),
        F.col("on_hand"),
        F.col("_regions"),
        F.coalesce(F.format_number("days_of_cover", 1), F.lit("unknown")),
        F.col("actual_qty"),
        F.col("forecast_qty"),
    )
    message = F.when(F.col("alert_type") == "stock_out_risk", stock).otherwise(sales)
    return alerts.select(
        F.col("date").alias("alert_date"),
        "sku",
        "alert_type",
        "severity",
        "actual_qty",
        "forecast_qty",
        "deviation_qty",
        "deviation_pct",
        "rolling_7d_deviation_qty",
        "prior_avg_qty",
        "on_hand",
        "days_of_cover",
        message.alias("message"),
    )
