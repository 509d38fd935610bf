"""Bronze sales: the ERP's rows for the partition's window, full fidelity, plus extraction metadata.

Each asset reads through the source layer (the same code for SQL Server and the
embedded demo), keeps SQL Server's column names and types, and adds where and
when the rows came from. A re-extraction of a day replaces exactly that day.
"""

import datetime as dt

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.defs.sales.checks import extraction_checks
from mssql_lakehouse.defs.sales.common import SALES_DAILY
from mssql_lakehouse.lib.asset_defaults import ERP_POOL, EXTRACTION_RETRY, SPARK_RESOURCES
from mssql_lakehouse.lib.check_rules import reconciles_with_source, row_count_anomaly
from mssql_lakehouse.lib.io.tables_resource import LakehouseTables
from mssql_lakehouse.lib.partitions import partition_window
from mssql_lakehouse.lib.sources import (
    CDC_COMMIT_TIME,
    CDC_OPERATION,
    CDC_SEQVAL,
    CDC_START_LSN,
    Extraction,
    ExtractionMode,
    MssqlSource,
    TableSource,
    frame_figures,
)
from mssql_lakehouse.lib.transforms.sales import DETAIL_TABLE, HEADER_TABLE

TRAILING_PARTITIONS = 14

SALES_ORDER_HEADER = TableSource(
    "Sales",
    "SalesOrderHeader",
    mode=ExtractionMode.WATERMARK,
    key_columns=("SalesOrderID",),
    watermark_column="ModifiedDate",
    split_column="SalesOrderID",
    reconcile_columns=("SubTotal", "TaxAmt", "Freight"),
)
SALES_ORDER_DETAIL = TableSource(
    "Sales",
    "SalesOrderDetail",
    mode=ExtractionMode.WATERMARK,
    key_columns=("SalesOrderDetailID",),
    watermark_column="ModifiedDate",
    split_column="SalesOrderDetailID",
    reconcile_columns=("OrderQty", "UnitPrice"),
)
HEADER_CHANGES = TableSource(
    "Sales", "SalesOrderHeader", mode=ExtractionMode.CDC, capture_instance="Sales_SalesOrderHeader"
)
DETAIL_CHANGES = TableSource(
    "Sales", "SalesOrderDetail", mode=ExtractionMode.CDC, capture_instance="Sales_SalesOrderDetail"
)
PRODUCTS = TableSource("Production", "Product", key_columns=("ProductID",), split_column="ProductID")
SKU_FORECASTS = TableSource(
    "Planning",
    "SkuForecast",
    mode=ExtractionMode.WATERMARK,
    key_columns=("ProductID", "ForecastDate"),
    watermark_column="ForecastDate",
    reconcile_columns=("PlannedQty",),
)

# Bronze reads the ERP: at most the pool's limit of extractions at once, retried on transient errors.
BRONZE = {
    **SALES_DAILY,
    "kinds": {"pyspark", "delta", "mssql"},
    "required_resource_keys": SPARK_RESOURCES | {"erp", "tables"},
    "pool": ERP_POOL,
    "retry_policy": EXTRACTION_RETRY,
}


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=None)


def with_extraction_metadata(df: DataFrame, partition_column: str, source: MssqlSource) -> DataFrame:
    """Add the daily window each row was read for, when it was read and from which database.

    The window is the row's own daily partition (not the whole range of a backfill run), so a
    row lands with the same metadata whether its day ran alone or in a backfill.
    """
    day_start = F.date_trunc("day", F.col(partition_column)).cast("timestamp_ntz")
    return (
        df.withColumn("_window_start", day_start)
        .withColumn("_window_end", day_start + F.expr("INTERVAL 1 DAY"))
        .withColumn("_extracted_at", F.current_timestamp())
        .withColumn("_source_database", F.lit(source.database))
    )


def landed_like_a_night(landed_at: dict[str, dt.datetime]) -> set[str]:
    """The days landed before any later day was: the night after they ended, as the nightly run does.

    A table read by modification time holds, for a day read later (by a backfill, with later
    days, or a replay), only the rows not modified since; its count is not comparable.
    """
    later_first: dt.datetime | None = None  # when the first of the later days was landed
    nightly = set()
    for day in sorted(landed_at, reverse=True):
        if later_first is None or landed_at[day] < later_first:
            nightly.add(day)
            later_first = landed_at[day]
    return nightly


def _day_counts(
    tables: LakehouseTables, spark, key: dg.AssetKey, column: str, since: dt.datetime
) -> dict[str, tuple[int, dt.datetime]]:
    """Rows per day from ``since`` on (later days included), and when each day was landed."""
    location = tables.location(key)
    if not location.exists(spark):
        return {}
    rows = (
        location.read(spark)
        .where(F.col(column) >= F.lit(since))
        .groupBy(F.to_date(column).cast("string").alias("day"))
        .agg(F.count(F.lit(1)).alias("rows"), F.max("_extracted_at").alias("landed_at"))
        .collect()
    )
    return {r["day"]: (r["rows"], r["landed_at"]) for r in rows}


def _extract_and_check(context: dg.AssetExecutionContext, table: TableSource, *, watermark: str):
    """Extract the window, write it (through the IO manager), then check it against the source."""
    source: MssqlSource = context.resources.erp
    spark = context.resources.spark.get_session()
    window = partition_window(context)
    extraction: Extraction = source.extract(spark, table, window=window)
    with extraction.compiled_if_large(spark):
        # Materialise once: the write and the reconciliation see the same rows, and the source is read once.
        landed = with_extraction_metadata(extraction.df, watermark, source).localCheckpoint()
        landed_figures = frame_figures(landed, list(extraction.source_figures.sums))
    yield dg.Output(
        landed,
        metadata={
            **extraction.metadata(),
            "source": dg.MetadataValue.json(source.describe()),
            "output_rows": landed_figures.row_count,
        },
    )

    key = context.asset_key
    yield reconciles_with_source(
        key,
        {"row_count": extraction.source_row_count, **extraction.source_figures.sums},
        {"row_count": landed_figures.row_count, **landed_figures.sums},
    )
    # The window's last day against the 14 days before it, each as a nightly run landed it.
    first, end = window.start.date().isoformat(), window.end.date().isoformat()
    since = _naive(window.start) - dt.timedelta(days=TRAILING_PARTITIONS)
    counts = _day_counts(context.resources.tables, spark, key, watermark, since)
    in_window = [d for d in counts if first <= d < end]
    day = max(in_window) if in_window else first
    nightly = landed_like_a_night({d: landed_at for d, (_rows, landed_at) in counts.items()})
    trailing = {d: rows for d, (rows, _landed_at) in counts.items() if d < first}
    comparable = {d: rows for d, rows in trailing.items() if d in nightly} if day in nightly else {}
    yield row_count_anomaly(
        key, counts[day][0] if day in counts else 0, comparable, left_out=len(trailing) - len(comparable)
    )


HEADER_KEY = dg.AssetKey(["bronze", "sales_order_header"])
DETAIL_KEY = dg.AssetKey(["bronze", "sales_order_detail"])


@dg.asset(
    key=HEADER_KEY, metadata={"partition_expr": "ModifiedDate"}, check_specs=extraction_checks(HEADER_KEY), **BRONZE
)
def sales_order_header(context: dg.AssetExecutionContext):
    """Sales.SalesOrderHeader rows whose ModifiedDate falls in the partition's window."""
    yield from _extract_and_check(context, SALES_ORDER_HEADER, watermark="ModifiedDate")


@dg.asset(
    key=DETAIL_KEY, metadata={"partition_expr": "ModifiedDate"}, check_specs=extraction_checks(DETAIL_KEY), **BRONZE
)
def sales_order_detail(context: dg.AssetExecutionContext):
    """Sales.SalesOrderDetail rows whose ModifiedDate falls in the partition's window."""
    yield from _extract_and_check(context, SALES_ORDER_DETAIL, watermark="ModifiedDate")


def _deletes(extraction: Extraction, source_table: str) -> DataFrame:
    df = extraction.df.where(F.col(CDC_OPERATION) == 1)
    return df.select(
        F.lit(source_table).alias("source_table"),
        F.col("SalesOrderID").cast("int").alias("SalesOrderID"),
        (F.col("SalesOrderDetailID") if "SalesOrderDetailID" in df.columns else F.lit(None))
        .cast("int")
        .alias("SalesOrderDetailID"),
        F.col("RowVer").cast("bigint").alias("RowVer"),
        F.col(CDC_COMMIT_TIME).cast("timestamp_ntz").alias("commit_time"),
        F.hex(CDC_START_LSN).alias("start_lsn"),
        F.hex(CDC_SEQVAL).alias("seqval"),
    )


@dg.asset(key=["bronze", "sales_order_deletes"], metadata={"partition_expr": "commit_time"}, **BRONZE)
def sales_order_deletes(context: dg.AssetExecutionContext) -> DataFrame:
    """Deleted order headers and lines, from SQL Server CDC for the window's LSN range.

    Watermarks cannot see a deleted row; CDC can. Each row carries the deleted row's last
    rowversion, so silver can tell a delete from a later re-insert.
    """
    source: MssqlSource = context.resources.erp
    spark = context.resources.spark.get_session()
    window = partition_window(context)
    headers = _deletes(source.extract(spark, HEADER_CHANGES, window=window), HEADER_TABLE)
    lines = _deletes(source.extract(spark, DETAIL_CHANGES, window=window), DETAIL_TABLE)
    return with_extraction_metadata(headers.unionByName(lines), "commit_time", source)


PRODUCTS_KEY = dg.AssetKey(["bronze", "products"])


def _days(window: dg.TimeWindow) -> list[dt.date]:
    """The ERP business days of a window (by date, so a 23- or 25-hour DST day counts once)."""
    first, end = window.start.date(), window.end.date()
    return [first + dt.timedelta(days=i) for i in range((end - first).days)]


def _stored_snapshots(tables: LakehouseTables, spark, window: dg.TimeWindow) -> DataFrame | None:
    """The catalogue snapshots bronze already holds for the window's days (None before the first write)."""
    location = tables.location(PRODUCTS_KEY)
    if not location.exists(spark):
        return None
    start, end = window.start.date(), window.end.date()
    return location.read(spark).where((F.col("snapshot_date") >= F.lit(start)) & (F.col("snapshot_date") < F.lit(end)))


@dg.asset(key=PRODUCTS_KEY, metadata={"partition_expr": "snapshot_date"}, **BRONZE)
def products(context: dg.AssetExecutionContext) -> dg.Output[DataFrame]:
    """Production.Product (the SKUs), one snapshot per day of the window, taken the first time the day runs.

    Production.Product keeps no history (it is not a temporal table): the ERP changes and
    removes products in place, so a day's catalogue exists only as the snapshot taken when the
    day first ran. A replay keeps the snapshots its days already have, and reads the current
    catalogue only for days without one, so a SKU added, renamed or removed later cannot change
    how a replayed day's lines are validated or named.
    """
    spark = context.resources.spark.get_session()
    window = partition_window(context)
    kept = _stored_snapshots(context.resources.tables, spark, window)
    kept_days = (
        {r["snapshot_date"] for r in kept.select("snapshot_date").distinct().collect()} if kept is not None else set()
    )
    new_days = [d for d in _days(window) if d not in kept_days]
    snapshots = kept
    if new_days:
        source: MssqlSource = context.resources.erp
        catalogue = source.extract(spark, PRODUCTS).df
        days = spark.createDataFrame([(d,) for d in new_days], "snapshot_date date")
        taken = with_extraction_metadata(catalogue.crossJoin(days), "snapshot_date", source)
        snapshots = taken if kept is None else kept.unionByName(taken, allowMissingColumns=True)
    return dg.Output(
        snapshots,
        metadata={
            "snapshots_taken": ", ".join(d.isoformat() for d in new_days) or "none",
            "snapshots_kept": ", ".join(sorted(d.isoformat() for d in kept_days)) or "none",
        },
    )


@dg.asset(key=["bronze", "sku_forecasts"], metadata={"partition_expr": "ForecastDate"}, **BRONZE)
def sku_forecasts(context: dg.AssetExecutionContext) -> DataFrame:
    """Planning.SkuForecast: the planned quantity per SKU for the days of the window."""
    source: MssqlSource = context.resources.erp
    spark = context.resources.spark.get_session()
    extraction = source.extract(spark, SKU_FORECASTS, window=partition_window(context))
    return with_extraction_metadata(extraction.df, "ForecastDate", source)
