"""Gold Customer 360: each customer's profile as of the end of a business day, with their sales facts.

Partition D holds the customers whose SCD2 version was valid at the end of D (the state
after every change committed on D), with the sales facts of their orders up to D. A day's
rows are a function of the history and the sales tables alone, so a run over many days
equals those days run one by one, and a replay rewrites the same rows.
"""

import datetime as dt
import functools

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.defs.customer_360.common import (
    CUSTOMER_360,
    GROUP,
    HISTORY,
    SALES_ORDER_LINES,
    SALES_ORDERS,
    wall_clock,
)
from mssql_lakehouse.lib.asset_defaults import SPARK_RESOURCES
from mssql_lakehouse.lib.partitions import daily_partitions, partition_window
from mssql_lakehouse.lib.transforms.customer_360 import customer_360 as build_customer_360
from mssql_lakehouse.lib.transforms.customer_360 import sales_facts
from mssql_lakehouse.lib.transforms.scd import HISTORY_COLUMNS

AS_OF = "as_of_date"


def profiles_as_of(history: DataFrame, day_end: dt.datetime) -> DataFrame:
    """The SCD1 shape of the versions valid at ``day_end`` (the business columns and ``valid_from``)."""
    end = wall_clock(day_end)
    valid = (F.col("valid_from") < end) & (F.col("valid_to").isNull() | (F.col("valid_to") >= end))
    columns = [c for c in history.columns if c not in HISTORY_COLUMNS]
    return history.where(valid).select(*columns, "valid_from")


def customer_360_as_of(
    history: DataFrame, orders: DataFrame | None, lines: DataFrame | None, window: dg.TimeWindow
) -> DataFrame:
    """Every day of ``window``: the profiles valid at its end joined with the sales facts up to it."""
    frames = []
    for key in daily_partitions.get_partition_keys_in_time_window(window):
        # The day's own bounds: a business day is not always 24 hours long.
        day = daily_partitions.time_window_for_partition_key(key)
        facts = None
        if orders is not None and lines is not None:
            facts = sales_facts(orders.where(F.col("order_date").cast("date") <= F.lit(day.start.date())), lines)
        profile = build_customer_360(profiles_as_of(history, day.end), facts)
        frames.append(profile.select(F.lit(day.start.date()).alias(AS_OF), *profile.columns))
    return functools.reduce(DataFrame.unionByName, frames)


@dg.asset(
    key=CUSTOMER_360,
    deps=[HISTORY, SALES_ORDERS, SALES_ORDER_LINES],
    metadata={
        "partition_expr": AS_OF,
        "sales_tables": f"{SALES_ORDERS.to_user_string()}, {SALES_ORDER_LINES.to_user_string()} (optional)",
    },
    kinds={"pyspark", "delta"},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=GROUP,
    # A day's silver or sales rows changed: that day's profile is refreshed. (Later days the change
    # also reaches are refreshed by customer_changes_sensor, as that needs the whole range.) Not before
    # the history has the day: sales landing first (or without Customer 360) would only start runs that fail.
    automation_condition=(
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_match(dg.AutomationCondition.missing()).allow(
            dg.AssetSelection.assets(HISTORY)
        )
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ),
    required_resource_keys=SPARK_RESOURCES | {"tables"},
)
def customer_360(context: dg.AssetExecutionContext) -> DataFrame:
    """Per day: one row per customer live at the end of the day, profile from the SCD2 history plus
    orders, net revenue and first/last order date up to that day.

    Cancelled orders are not counted. Without the sales tables the sales columns are null.
    """
    spark = context.resources.spark.get_session()
    tables = context.resources.tables
    history = tables.location(HISTORY).read(spark)
    orders = tables.location(SALES_ORDERS)
    lines = tables.location(SALES_ORDER_LINES)
    if orders.exists(spark) and lines.exists(spark):
        orders_df, lines_df = orders.read(spark), lines.read(spark)
    else:
        context.log.info("No sales tables yet: the sales columns of customer_360 are null")
        orders_df = lines_df = None
    return customer_360_as_of(history, orders_df, lines_df, partition_window(context))
