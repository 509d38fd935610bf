"""Gold Customer 360: each live customer's profile with their sales facts."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.lib.transforms.customer_changes import SILVER_KEY
from mssql_lakehouse.lib.transforms.sales import CANCELLED_STATUS

SALES_FACTS = {
    "order_count": "bigint",
    "net_revenue": "decimal(19,4)",
    "first_order_date": "date",
    "last_order_date": "date",
}


def sales_facts(orders: DataFrame, lines: DataFrame) -> DataFrame:
    """Per customer: orders (not cancelled), their net revenue, and first and last order date."""
    live = orders.where(F.coalesce(F.col("status") != CANCELLED_STATUS, F.lit(True)))
    revenue = lines.groupBy("sales_order_id").agg(F.sum("line_net_amount").alias("order_net"))
    return (
        live.join(revenue, "sales_order_id", "left")
        .groupBy(SILVER_KEY)
        .agg(
            F.countDistinct("sales_order_id").cast(SALES_FACTS["order_count"]).alias("order_count"),
            F.coalesce(F.sum("order_net"), F.lit(0)).cast(SALES_FACTS["net_revenue"]).alias("net_revenue"),
            F.min("order_date").cast("date").alias("first_order_date"),
            F.max("order_date").cast("date").alias("last_order_date"),
        )
    )


def customer_360(customers: DataFrame, facts: DataFrame | None) -> DataFrame:
    """One row per live customer: the silver profile plus sales facts.

    ``facts`` None (no sales tables yet): the sales columns are null. A customer without
    orders has 0 orders and 0 revenue.
    """
    profile = customers.withColumnRenamed("valid_from", "profile_valid_from")
    if facts is None:
        return profile.select("*", *[F.lit(None).cast(t).alias(c) for c, t in SALES_FACTS.items()])
    joined = profile.join(facts, SILVER_KEY, "left")
    return joined.select(
        *profile.columns,
        F.coalesce(F.col("order_count"), F.lit(0).cast("bigint")).alias("order_count"),
        F.coalesce(F.col("net_revenue"), F.lit(0).cast(SALES_FACTS["net_revenue"])).alias("net_revenue"),
        "first_order_date",
        "last_order_date",
    )
