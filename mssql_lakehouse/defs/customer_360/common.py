"""What the Customer 360 slice's layers share: table keys, group, CDC source, the business day's clock."""

import datetime as dt

import dagster as dg
from pyspark.sql import Column
from pyspark.sql import functions as F

from mssql_lakehouse.lib.partitions import daily_partitions
from mssql_lakehouse.lib.sources import ExtractionMode, TableSource
from mssql_lakehouse.lib.transforms.customer_changes import CAPTURE_INSTANCE, KEY

CHANGES = dg.AssetKey(["bronze", "customer_changes"])
QUARANTINE = dg.AssetKey(["bronze", "customer_changes_quarantine"])
SNAPSHOT = dg.AssetKey(["bronze", "customer_snapshot"])
HISTORY = dg.AssetKey(["silver", "customers_history"])
CUSTOMERS = dg.AssetKey(["silver", "customers"])
CUSTOMER_360 = dg.AssetKey(["gold", "customer_360"])
SALES_ORDERS = dg.AssetKey(["silver", "sales_orders"])
SALES_ORDER_LINES = dg.AssetKey(["silver", "sales_order_lines"])

GROUP = "customer_360"

# Metadata of bronze/customer_changes fed by landed files: the files it read (name -> signature,
# see ``file_signatures``), by which the sensor tells the days a run has read.
LANDED_FILES = "landed_files"
# Metadata of bronze/customer_changes fed by a stream (Kafka, Event Hubs, Auto Loader): for each commit
# day outside the run's window, when its newest event landed in the raw table (epoch seconds), for the
# days with events landed in the last ``LANDED_LOOKBACK``. The sensor re-applies such a day when the run
# that last applied it started before that.
LANDED_FOR_OTHER_DAYS = "events_landed_for_other_days"
LANDED_LOOKBACK = dt.timedelta(days=7)

CUSTOMER_CHANGES = TableSource(
    "dbo", "Customer", mode=ExtractionMode.CDC, capture_instance=CAPTURE_INSTANCE, key_columns=(KEY,)
)


def wall_clock(moment: dt.datetime) -> Column:
    """A window bound as a ``timestamp_ntz`` literal: the partition's wall-clock time, no zone shift."""
    return F.lit(moment.strftime("%Y-%m-%d %H:%M:%S.%f")).cast("timestamp_ntz")


def in_window(value: Column, window: dg.TimeWindow) -> Column:
    return (value >= wall_clock(window.start)) & (value < wall_clock(window.end))


def business_day_zone() -> str:
    """The business day's time zone (the clock of ``commit_time``): the one the daily partitions are built on."""
    return daily_partitions.timezone or "UTC"
