"""Bronze inventory: every landed export row with its file, region and ingestion time; bad files rejected.

Locally the partition's day folder is read file by file with Spark; on Databricks Auto Loader
(``cloudFiles``) reads it, inferring and evolving the schema and rescuing what does not fit. A
file that cannot be read whole (truncated, a malformed line, values of the wrong type) lands
nothing: it is recorded in ``bronze/inventory_rejected_files`` with the reason, the other files
land, and the partition's ``no_rejected_files`` check fails. A column the export contract does
not know is added (as text) and the ``schema_matches_contract`` check warns.

A file already landed unchanged (same name, size and modification time) keeps the rows it
landed with, so ingesting the same files again leaves the partition exactly as it was.
"""

import datetime as dt
import itertools
from typing import Any

import dagster as dg
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mssql_lakehouse.defs.inventory.checks import inventory_snapshots_checks
from mssql_lakehouse.defs.inventory.common import INVENTORY_DAILY, REJECTED_FILES, SNAPSHOTS
from mssql_lakehouse.defs.inventory.landing import LANDED_FILE_SETS, LandedFile, fingerprint, landed_files
from mssql_lakehouse.defs.inventory.partitions import partition_day_and_region
from mssql_lakehouse.defs.inventory.settings import InventoryConfig
from mssql_lakehouse.lib.io.compilation import local_checkpoint
from mssql_lakehouse.lib.io.tables_resource import LakehouseTables
from mssql_lakehouse.lib.transforms.inventory import (
    EXPORT_CONTRACT,
    conform,
    empty_bronze,
    file_problems,
    new_columns,
    rejection_schema,
    with_file_columns,
    with_landing,
)

CORRUPT = "_corrupt_record"
RESCUED = "_rescued_data"
MAX_REASON = 500


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:MAX_REASON]


def _rejection(day: str, region: str, f: LandedFile, reason: str) -> dict[str, Any]:
    return {
        "landing_date": dt.date.fromisoformat(day),
        "region": region,
        "file_name": f.name,
        "file_path": f.path,
        "file_size": f.size,
        "file_modified_at": f.modified_at,
        "file_format": f.format,
        "reason": reason,
    }


def _read_export(spark: SparkSession, f: LandedFile) -> tuple[DataFrame | None, str | None]:
    """One export file's rows as read (text for CSV), or the reason it cannot land."""
    if f.format is None:
        return None, "not an export file (expected .parquet or .csv)"
    try:
        if f.format == "parquet":
            raw = spark.read.parquet(f.path)
        else:
            header = spark.read.option("header", True).csv(f.path).columns
            schema = T.StructType(
                [T.StructField(c, T.StringType()) for c in header] + [T.StructField(CORRUPT, T.StringType())]
            )
            raw = (
                spark.read.schema(schema)
                .options(header=True, mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT)
                .csv(f.path)
            )
        # Read it whole now: a truncated file must fail here, not halfway through the write.
        raw = local_checkpoint(raw)
    except Exception as exc:
        return None, f"unreadable {f.format} file: {_first_line(exc)}"
    if CORRUPT in raw.columns:
        malformed = raw.where(F.col(CORRUPT).isNotNull())
        count = malformed.count()
        if count:
            first = malformed.select(CORRUPT).first()[0]
            return None, f"{count} malformed line(s); first: {first[:200]!r}"
        raw = raw.drop(CORRUPT)
    problems = file_problems(raw)
    if problems:
        return None, "; ".join(problems)
    return raw, None


def _with_landed_file(raw: DataFrame, f: LandedFile) -> DataFrame:
    # The listing's values, not Spark's: they are what a later run compares to find unchanged files.
    return (
        raw.withColumn("_file_name", F.lit(f.name))
        .withColumn("_file_path", F.lit(f.path))
        .withColumn("_file_size", F.lit(f.size).cast("bigint"))
        .withColumn("_file_modified_at", F.lit(f.modified_at).cast("timestamp"))
    )


def _landed_before(
    prior: DataFrame | None, day: str, region: str
) -> tuple[DataFrame | None, dict[str, tuple[int, int]]]:
    """The partition's rows already in bronze, and the (size, modification time) each file had."""
    if prior is None:
        return None, {}
    rows = prior.where((F.col("_landing_date") == F.lit(dt.date.fromisoformat(day))) & (F.col("_region") == region))
    files = rows.groupBy("_file_name").agg(
        F.first("_file_size").alias("size"), F.first(F.unix_micros("_file_modified_at")).alias("micros")
    )
    return rows, {r["_file_name"]: (r["size"], r["micros"]) for r in files.collect()}


def _land_local(
    spark: SparkSession,
    files: list[LandedFile],
    prior: DataFrame | None,
    day: str,
    region: str,
    ingested_at: dt.datetime,
) -> tuple[list[DataFrame], list[dict[str, Any]], int]:
    """The day folder's rows (unchanged files keep their landed rows), its rejections, files read anew."""
    before, landed_files_before = _landed_before(prior, day, region)
    frames, rejected, unchanged, read = [], [], [], 0
    for f in files:
        if landed_files_before.get(f.name) == (f.size, f.modified_micros):
            unchanged.append(f.name)
            continue
        raw, reason = _read_export(spark, f)
        read += 1
        if reason:
            rejected.append(_rejection(day, region, f, reason))
            continue
        frames.append(conform(with_landing(_with_landed_file(raw, f), dt.date.fromisoformat(day), region, ingested_at)))
    if unchanged:
        frames.append(before.where(F.col("_file_name").isin(unchanged)))
    return frames, rejected, read


def _dbutils(spark: SparkSession):
    from pyspark.dbutils import DBUtils  # only on a Databricks cluster

    return DBUtils(spark)


def _cloud_files(spark: SparkSession, folder: str) -> list[LandedFile]:
    try:
        listing = _dbutils(spark).fs.ls(folder)
    except Exception:
        return []
    return [
        LandedFile(i.path, i.name, i.size, i.modificationTime * 1000)
        for i in listing
        if not i.name.startswith((".", "_")) and not i.name.endswith("/")
    ]


def _land_autoloader(
    spark: SparkSession, landing: InventoryConfig, day: str, region: str
) -> tuple[list[DataFrame], list[dict[str, Any]], int]:
    """Auto Loader over the day folder: each format's stream appends what it has not read yet to a staging table.

    The staging table holds every row Auto Loader ever read from the folder, so the partition is
    rebuilt from it whole (and identically when no file is new). A new column stops the stream
    once after Auto Loader recorded it (``addNewColumns``); the second start reads with it.
    """
    source = landing.landing_dir(region, day)
    state = f"{landing.autoloader_state_dir(region)}/{day}"
    files = _cloud_files(spark, source)
    frames, rejected = [], []
    for fmt in sorted({f.format for f in files if f.format}):
        staged = f"{state}/{fmt}/rows"
        reader = (
            spark.readStream.format("cloudFiles")
            .option("cloudFiles.format", fmt)
            .option("cloudFiles.schemaLocation", f"{state}/{fmt}/schema")
            .option("cloudFiles.inferColumnTypes", "true")
            .option("cloudFiles.schemaEvolutionMode", "addNewColumns")
            .option("cloudFiles.schemaHints", ", ".join(f"{c} {t}" for c, t in EXPORT_CONTRACT.items()))
            .option("rescuedDataColumn", RESCUED)
            .option("pathGlobFilter", f"*.{fmt}")
            .option("cloudFiles.allowOverwrites", "true")
            .option("ignoreCorruptFiles", "true")
        )
        if fmt == "csv":
            reader = reader.option("header", "true").option("mode", "PERMISSIVE")
        for attempt in itertools.count(1):
            stream = with_file_columns(reader.load(source).select("*", "_metadata")).withColumn(
                "_ingested_at", F.current_timestamp()
            )
            query = (
                stream.writeStream.format("delta")
                .option("checkpointLocation", f"{state}/{fmt}/checkpoint")
                .option("mergeSchema", "true")
                .trigger(availableNow=True)
                .start(staged)
            )
            try:
                query.awaitTermination()
                break
            except Exception as exc:
                schema_changed = "UnknownFieldException" in str(exc) or "UNKNOWN_FIELD_EXCEPTION" in str(exc)
                if attempt >= 2 or not schema_changed:
                    raise
        rows = spark.read.format("delta").load(staged)
        # A re-exported file is read again (allowOverwrites): its latest version is the one that counts.
        latest = F.max("_file_modified_at").over(Window.partitionBy("_file_name"))
        rows = rows.where(F.col("_file_modified_at") == latest)
        current = {f.name: f for f in files if f.format == fmt}
        rows = rows.where(F.col("_file_name").isin(list(current)))
        # A file with rescued data or values of the wrong type is rejected whole, as locally.
        per_file = {
            r["_file_name"]: r
            for r in rows.groupBy("_file_name")
            .agg(F.count("*").alias("rows"), F.count(RESCUED).alias("rescued"))
            .collect()
        }
        bad: list[str] = []
        for name, f in current.items():
            stats = per_file.get(name)
            if stats is None:
                reason = "unreadable: Auto Loader skipped it as corrupt or truncated" if f.size else "empty file"
            elif stats["rescued"]:
                reason = f"{stats['rescued']} line(s) did not fit the schema (rescued data)"
            else:
                problems = file_problems(rows.where(F.col("_file_name") == name))
                reason = "; ".join(problems) if problems else None
            if reason:
                bad.append(name)
                rejected.append(_rejection(day, region, f, reason))
        good = rows.where(~F.col("_file_name").isin(bad)).drop(RESCUED)
        frames.append(conform(with_landing(good, dt.date.fromisoformat(day), region, None)))
    return frames, rejected, len(files)


@dg.multi_asset(
    outs={
        "inventory_snapshots": dg.AssetOut(
            key=SNAPSHOTS,
            metadata={"partition_expr": {"date": "_landing_date", "region": "_region"}},
            kinds={"pyspark", "delta"},
            description="Every row of the region's export files for the day, with file name, path, size,"
            " modification time, region and ingestion time; replaced per partition.",
        ),
        "inventory_rejected_files": dg.AssetOut(
            key=REJECTED_FILES,
            metadata={"partition_expr": {"date": "landing_date", "region": "region"}},
            kinds={"pyspark", "delta"},
            description="Export files that could not land (truncated, malformed lines, wrong types), with the"
            " reason; replaced per partition.",
        ),
    },
    check_specs=inventory_snapshots_checks(SNAPSHOTS, REJECTED_FILES),
    partitions_def=INVENTORY_DAILY["partitions_def"],
    backfill_policy=INVENTORY_DAILY["backfill_policy"],
    group_name=INVENTORY_DAILY["group_name"],
    required_resource_keys=INVENTORY_DAILY["required_resource_keys"],
)
def inventory_snapshots(context: dg.AssetExecutionContext):
    """Land the regions' inventory export files of the partitions' days."""
    spark: SparkSession = context.resources.spark.get_session()
    tables: LakehouseTables = context.resources.tables
    landing: InventoryConfig = context.resources.inventory_settings
    ingested_at = dt.datetime.now(dt.UTC)
    location = tables.location(SNAPSHOTS)
    prior = location.read(spark) if location.exists(spark) else None

    frames, rejected, files_read, file_sets = [empty_bronze(spark)], [], 0, {}
    for key in context.partition_keys:
        day, region = partition_day_and_region(key)
        # Listed once, before reading: the run lands these files and records their file set as the
        # file-arrival sensor fingerprints it, so a file that arrives or changes during the run
        # makes a file set this run did not land, and is run again.
        files = landed_files(landing.landing_dir(region, day))
        file_sets[key] = fingerprint(files)
        if landing.autoloader:
            landed, bad, read = _land_autoloader(spark, landing, day, region)
        else:
            landed, bad, read = _land_local(spark, files, prior, day, region, ingested_at)
        frames += landed
        rejected += bad
        files_read += read
    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame, allowMissingColumns=True)
    # Materialise before the write replaces the partition this may have read unchanged files from.
    rows = local_checkpoint(rows)
    yield dg.Output(
        rows,
        output_name="inventory_snapshots",
        metadata={"files_read": files_read, LANDED_FILE_SETS: dg.MetadataValue.json(file_sets)},
    )
    yield dg.Output(spark.createDataFrame(rejected, rejection_schema()), output_name="inventory_rejected_files")

    yield dg.AssetCheckResult(
        asset_key=SNAPSHOTS,
        check_name="no_rejected_files",
        passed=not rejected,
        metadata={
            "rejected_files": len(rejected),
            "reasons": dg.MetadataValue.json(
                {f"{r['region']}/{r['landing_date']}/{r['file_name']}": r["reason"] for r in rejected}
            ),
        },
    )
    extra = new_columns(rows)
    filled = rows.select([F.count(F.col(f"`{c}`")).alias(c) for c in extra]).collect()[0].asDict() if extra else {}
    arrived = sorted(c for c, n in filled.items() if n)
    yield dg.AssetCheckResult(
        asset_key=SNAPSHOTS,
        check_name="schema_matches_contract",
        passed=not arrived,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"new_columns": ", ".join(arrived) or "none", "contract": ", ".join(EXPORT_CONTRACT)},
    )
    yield dg.AssetCheckResult(
        asset_key=REJECTED_FILES,
        check_name="rejections_have_reasons",
        passed=all(r["reason"] for r in rejected),
        metadata={"rejected_files": len(rejected)},
    )
