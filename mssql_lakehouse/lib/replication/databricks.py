"""Replication on Databricks: a deep clone into the DR catalog, which Databricks makes incremental.

``CREATE OR REPLACE TABLE <dr>.<layer>.<t> DEEP CLONE <catalog>.<layer>.<t> VERSION AS OF <v>``
copies only the files the clone lacks (its metrics say how many and how much). The
clone has its own history; the source version it reflects is in its ``CLONE`` commit's
``operationParameters.sourceVersion``, which is what lag is measured against.

A target whose latest commit is not a ``CLONE`` has been written to. That is expected
at fail-back (the old primary was written before the outage) and safe only when the
source was itself last cloned from the target at the target's current version;
otherwise the target has writes the source lacks, and replacing it needs ``force``
(the diverged target is first deep-cloned aside under ``<table>__diverged_<time>``).
"""

from __future__ import annotations

import datetime as dt
import time

from pyspark.sql import SparkSession

from mssql_lakehouse.lib.io.delta_tables import DeltaLocation
from mssql_lakehouse.lib.replication.local import ReplicaDivergedError, TableReplication


def deep_clone_sql(source: DeltaLocation, target: DeltaLocation, version: int) -> str:
    return (
        f"CREATE OR REPLACE TABLE {target.qualified_name} DEEP CLONE {source.qualified_name} "
        f"VERSION AS OF {int(version)}"
    )


def aside_location(target: DeltaLocation, now: dt.datetime) -> DeltaLocation:
    return DeltaLocation(target.layer, f"{target.table}__diverged_{now:%Y%m%d%H%M%S}", catalog=target.catalog)


def last_clone(spark: SparkSession, location: DeltaLocation) -> tuple[int, str] | None:
    """The source version and source table of the location's latest ``CLONE`` commit, if any."""
    rows = (
        location.delta_table(spark)
        .history()
        .where("operation = 'CLONE'")
        .orderBy("version", ascending=False)
        .limit(1)
        .select("operationParameters")
        .collect()
    )
    if not rows:
        return None
    parameters = rows[0]["operationParameters"] or {}
    return int(parameters.get("sourceVersion", -1)), str(parameters.get("source", ""))


def catalog_divergence(spark: SparkSession, source: DeltaLocation, target: DeltaLocation) -> str | None:
    if not target.exists(spark):
        return None
    latest = target.delta_table(spark).history(1).select("version", "operation").collect()[0]
    return clone_divergence(target, int(latest["version"]), latest["operation"], last_clone(spark, source))


def clone_divergence(
    target: DeltaLocation, version: int, operation: str, source_cloned_from: tuple[int, str] | None
) -> str | None:
    """Whether replacing the target by a clone would lose commits of its own (None: it would not)."""
    if operation == "CLONE":
        return None  # a replica nobody wrote to
    target_name = f"{target.catalog}.{target.layer}.{target.table}"
    if (
        source_cloned_from
        and source_cloned_from[0] == version
        and (source_cloned_from[1].replace("`", "").endswith(target_name))
    ):
        return None  # the source took over from exactly this version: nothing here is missing there
    return f"{target.uri} has its own commits up to version {version} ({operation}) that the source does not reflect"


def replicate_catalog_table(
    spark: SparkSession, table: str, source: DeltaLocation, target: DeltaLocation, *, force: bool = False
) -> TableReplication:
    started = time.monotonic()
    result = TableReplication(table, source.uri, target.uri)
    if not source.exists(spark):
        result.status = "source_missing"
        return result
    result.source_version = int(source.delta_table(spark).history(1).collect()[0]["version"])
    previous = last_clone(spark, target) if target.exists(spark) else None
    result.target_version_before = previous[0] if previous else -1
    reason = catalog_divergence(spark, source, target)
    if reason:
        if not force:
            raise ReplicaDivergedError(
                f"{table}: {reason}. Reconcile, or force (the target is deep-cloned aside first)."
            )
        aside = aside_location(target, dt.datetime.now(dt.UTC))
        spark.sql(f"CREATE TABLE {aside.qualified_name} DEEP CLONE {target.qualified_name}")
        result.diverged_moved_to = aside.uri
    if result.target_version_before == result.source_version and not reason:
        result.seconds = time.monotonic() - started
        return result
    target.ensure_schema(spark)
    metrics = spark.sql(deep_clone_sql(source, target, result.source_version)).collect()[0].asDict()
    result.status = "copied"
    result.versions_copied = list(range(result.target_version_before + 1, result.source_version + 1))
    result.data_files_copied = int(metrics.get("num_copied_files") or 0)
    result.data_bytes_copied = int(metrics.get("copied_files_size") or 0)
    result.seconds = time.monotonic() - started
    return result
