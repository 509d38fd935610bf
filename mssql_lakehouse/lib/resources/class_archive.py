"""The class archive of local Spark: the classes a run loads, mapped at each JVM start, not loaded.

Every Dagster run is a fresh process, and local Spark's JVM loads and verifies tens of thousands of
classes (Spark's, Delta's, the JDBC drivers') before a run's first write is done. Java's application
class data sharing dumps the classes a JVM has loaded into an archive that later JVMs with the same
class path and the same JDK map at start. ``mssql-lakehouse class-archive`` (run by ``make setup``)
builds it once: a throwaway local Spark runs a short workload of what runs do (Delta writes, MERGE,
reads of the table and its change feed, a JDBC read) and writes the archive as its JVM exits.
Classes the workload did not load are loaded from the jars as without an archive.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from pyspark import SparkContext
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from mssql_lakehouse.lib.resources import spark
from mssql_lakehouse.settings import PathsSettings

# This module's name also when it runs as ``python -m`` (``__name__`` is then ``__main__``).
_MODULE = __spec__.name


def archive_path(paths: PathsSettings) -> Path:
    """The archive local Spark maps with these paths (it may not be built yet)."""
    return spark.class_archive_path(Path(paths.jar_cache_dir), spark.local_class_path(paths))


def build(paths: PathsSettings) -> Path:
    """Build the archive for local Spark's class path, unless it is built; return it.

    The archive is written under a name of this process's and renamed when whole, so a start never
    maps half an archive; two builds at once each write theirs, and the last rename wins.
    """
    archive = archive_path(paths)
    if archive.exists():
        return archive
    partial = archive.with_name(f"{archive.name}.{os.getpid()}.partial")
    try:
        with tempfile.TemporaryDirectory() as home:
            child = subprocess.run(
                [sys.executable, "-m", _MODULE, str(partial), str(paths.jar_cache_dir), home],
                capture_output=True,
                text=True,
            )
        if child.returncode != 0 or not partial.exists():
            raise RuntimeError(f"the JVM wrote no class archive:\n{child.stderr[-3000:]}")
        partial.replace(archive)
    finally:
        partial.unlink(missing_ok=True)
    return archive


def _dump(archive: Path, paths: PathsSettings) -> None:
    """Run the workload in a local Spark whose JVM dumps the classes it loaded into ``archive`` at exit."""
    session = spark.start_session(spark.local_spark_conf(paths, java_options=[f"-XX:ArchiveClassesAtExit={archive}"]))
    try:
        _workload(session, paths.home)
    finally:
        session.stop()
    # The JVM exits, and so writes the archive, when its standard input closes (PySpark's gateway).
    gateway = SparkContext._gateway
    gateway.shutdown()
    gateway.proc.stdin.close()
    gateway.proc.wait(timeout=600)


def _workload(session: SparkSession, home: Path) -> None:
    from delta.tables import DeltaTable

    table = str(home / "classes")
    rows = session.range(2000).select(
        F.col("id"),
        (F.col("id") % 5).cast("int").alias("day"),
        F.col("id").cast("string").alias("name"),
        (F.col("id") / 7).cast("decimal(19,4)").alias("amount"),
        F.timestamp_seconds(F.col("id") * 60).alias("modified_at"),
    )
    (
        DeltaTable.createIfNotExists(session)
        .location(table)
        .addColumns(rows.schema)
        .partitionedBy("day")
        .property("delta.enableChangeDataFeed", "true")
        .execute()
    )
    rows.write.format("delta").mode("append").save(table)
    rows.where("day = 1").write.format("delta").mode("overwrite").option("replaceWhere", "day = 1").save(table)
    changes = rows.where("id < 100").withColumn("amount", F.col("amount") + 1)
    (
        DeltaTable.forPath(session, table)
        .alias("t")
        .merge(changes.alias("s"), "t.id = s.id AND t.day = s.day")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
    DeltaTable.forPath(session, table).delete("id = 3")
    landed = session.read.format("delta").load(table)
    latest = Window.partitionBy("day").orderBy(F.col("modified_at").desc())
    landed.withColumn("n", F.row_number().over(latest)).where("n = 1").join(rows, "id").collect()
    landed.groupBy("day").agg(F.sum("amount"), F.count("*"), F.max("modified_at")).collect()
    session.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0).load(table).count()
    DeltaTable.forPath(session, table).history().collect()
    DeltaTable.forPath(session, table).detail().collect()
    (
        session.read.format("jdbc")
        .option("url", "jdbc:duckdb:")
        .option("driver", "org.duckdb.DuckDBDriver")
        .option("query", "SELECT 1 AS id, 'a' AS name, DATE '2026-01-01' AS day, 1.5::DECIMAL(19,4) AS amount")
        .load()
        .collect()
    )


if __name__ == "__main__":
    target, jar_cache, home = sys.argv[1:]
    _dump(Path(target), PathsSettings(jar_cache_dir=Path(jar_cache), home=Path(home)))
