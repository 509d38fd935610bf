"""Regional inventory exports: the files Azure Data Factory drops in the landing zone, written by the demo.

A region's ``Production.ProductInventory`` is read through the source layer as it stood at the
end of the day (the temporal table ``FOR SYSTEM_TIME AS OF`` the day's last microsecond, in the
ERP's time zone), stamped with that moment as ``SnapshotTime`` and written as one file,
``<landing dir>/ProductInventory_<region>_<day>.<parquet|csv>``. The file appears with a rename,
so a reader of the folder never sees half of it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from mssql_lakehouse.lib.sources import MssqlSource, TableSource
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_demo.schema import inventory_path, validate_region

FORMATS = ("parquet", "csv")
PRODUCT_INVENTORY = TableSource("Production", "ProductInventory", key_columns=("ProductID", "LocationID"))
EXPORTED_COLUMNS = ("ProductID", "LocationID", "Shelf", "Bin", "Quantity", "rowguid", "ModifiedDate")
# Microseconds, as datetime2 holds them: Spark's default CSV format would cut them to milliseconds.
CSV_TIMESTAMP_FORMAT = "yyyy-MM-dd HH:mm:ss.SSSSSS"


class ExportError(ValueError):
    """The requested export cannot be written (unknown region, day not seeded, bad format)."""


def snapshot_time(day: dt.date) -> dt.datetime:
    """The end of the ERP day: the moment a day's snapshot shows."""
    return dt.datetime.combine(day, dt.time.max)


def export_file_name(region: str, day: dt.date, fmt: str) -> str:
    return f"ProductInventory_{region}_{day.isoformat()}.{fmt}"


def export_inventory(
    spark: SparkSession, demo_dir: Path, day: dt.date, region: str, target_dir: Path, fmt: str = "parquet"
) -> Path:
    """Write the region's inventory as of the end of ``day`` into ``target_dir``; returns the file."""
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    source_file = inventory_path(demo_dir, validate_region(region))
    if not source_file.exists():
        raise ExportError(f"the demo has no inventory for region {region!r} ({source_file} is missing)")
    at = snapshot_time(day)
    # ``as_of`` is a wall-clock time of the business day, whose zone the source takes from the settings.
    source = MssqlSource.demo(source_file, LakehouseSettings.from_env())
    snapshot = source.extract(spark, PRODUCT_INVENTORY, as_of=at).df.select(
        *EXPORTED_COLUMNS, F.lit(at).cast("timestamp_ntz").alias("SnapshotTime")
    )
    rows = snapshot.coalesce(1).localCheckpoint()
    if rows.isEmpty():
        raise ExportError(f"region {region!r} has no inventory on {day}: seed the demo for that day first")

    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / export_file_name(region, day, fmt)
    staging = target_dir / f".{target.name}.writing"
    writer = rows.write.mode("overwrite")
    if fmt == "csv":
        writer.option("header", True).option("timestampNTZFormat", CSV_TIMESTAMP_FORMAT).csv(str(staging))
    else:
        writer.parquet(str(staging))
    (part,) = staging.glob(f"part-*.{fmt}*")
    os.replace(part, target)
    shutil.rmtree(staging)
    return target
