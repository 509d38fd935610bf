"""Where a Delta table lives and how to read, write and inspect it.

Locally a table is a folder ``<tables root>/<layer>/<table>``; on Databricks it
is the Unity Catalog name ``<catalog>.<layer>.<table>``. Everything above this
module works the same for both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dagster._core.storage.db_io_manager import TablePartitionDimension
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, DataFrameWriter, SparkSession
from pyspark.sql.types import StructType

from mssql_lakehouse.lib.io.table_layout import PARTITION_DATE, TableLayout

COMMIT_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"


@dataclass(frozen=True)
class TableState:
    """A table as a write reads it before writing."""

    partition_columns: tuple[str, ...]
    # The time of the table's latest commit: any commit after it is the write's own or another writer's.
    last_commit_at: datetime

    def layout(self, dimensions: Sequence[TablePartitionDimension]) -> TableLayout:
        return TableLayout.of_table(self.partition_columns, dimensions)


@dataclass(frozen=True)
class DeltaLocation:
    layer: str
    table: str
    path: str | None = None
    catalog: str | None = None

    @classmethod
    def for_table(cls, layer: str, table: str, *, tables_root: str | None, catalog: str | None) -> DeltaLocation:
        if catalog:
            return cls(layer, table, catalog=catalog)
        if not tables_root:
            raise ValueError("A Delta location needs either a tables root or a catalog")
        return cls(layer, table, path=f"{tables_root.rstrip('/')}/{layer}/{table}")

    @property
    def name(self) -> str:
        return f"{self.layer}.{self.table}"

    @property
    def qualified_name(self) -> str:
        if self.catalog:
            return ".".join(f"`{p}`" for p in (self.catalog, self.layer, self.table))
        return f"delta.`{self.path}`"

    @property
    def uri(self) -> str:
        return self.path if self.path else f"{self.catalog}.{self.layer}.{self.table}"

    def exists(self, spark: SparkSession) -> bool:
        if self.catalog:
            return spark.catalog.tableExists(f"{self.catalog}.{self.layer}.{self.table}")
        return DeltaTable.isDeltaTable(spark, self.path)

    def delta_table(self, spark: SparkSession) -> DeltaTable:
        if self.catalog:
            return DeltaTable.forName(spark, f"{self.catalog}.{self.layer}.{self.table}")
        return DeltaTable.forPath(spark, self.path)

    def read(self, spark: SparkSession, *, version: int | None = None) -> DataFrame:
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        df = reader.table(f"{self.catalog}.{self.layer}.{self.table}") if self.catalog else reader.load(self.path)
        # The layout's generated day is the table's, not its data's: no reader copies it elsewhere.
        return df.drop(PARTITION_DATE)

    def save(self, writer: DataFrameWriter) -> None:
        if self.catalog:
            writer.saveAsTable(f"{self.catalog}.{self.layer}.{self.table}")
        else:
            writer.save(self.path)

    def create_empty(
        self, spark: SparkSession, schema: StructType, layout: TableLayout, properties: Mapping[str, str]
    ) -> None:
        """Create the table with ``schema``, ``layout`` and no rows, unless it exists.

        Two runs may create it at once: one commits the table's first version and the other's
        commit fails with a Delta conflict, after which the table exists for it too.
        """
        builder = DeltaTable.createIfNotExists(spark)
        builder = builder.tableName(self.uri) if self.catalog else builder.location(self.path)
        builder = builder.addColumns(schema)
        for name, expression in layout.generated_columns():
            builder = builder.addColumn(name, "DATE", generatedAlwaysAs=expression)
        if layout.partition_by:
            builder = builder.partitionedBy(*layout.partition_by)
        for name, value in properties.items():
            builder = builder.property(name, value)
        builder.execute()

    def state(self, spark: SparkSession) -> TableState | None:
        """What a write reads of the table before writing, or None if there is no table.

        ``DESCRIBE DETAIL`` is a command answered from the Delta log on the driver; unlike
        ``DeltaTable.detail()`` or ``history()`` it runs no Spark job.
        """
        if not self.exists(spark):
            return None
        detail = spark.sql(f"DESCRIBE DETAIL {self.qualified_name}").collect()[0]
        return TableState(tuple(detail["partitionColumns"]), detail["lastModified"])

    def commits_since(self, spark: SparkSession, seen: datetime | None) -> list[dict[str, Any]]:
        """The commits made at or after time ``seen`` (all of them if None), oldest first.

        ``seen`` is a :class:`TableState`'s ``last_commit_at``: the result is the commit that state
        read (if its time is unchanged), and every commit made after it. Delta gives history times
        that increase with the version, so the newest commits are read until one is older.
        """
        if not self.exists(spark):
            return []
        # Delta reads one commit file per version of the history asked for: ask for the few a write
        # expects (its own, and a competitor's or two), and for more only while they all are newer.
        limit = 4
        while True:
            history = [r.asDict(recursive=True) for r in self.delta_table(spark).history(limit).collect()]
            since = [commit for commit in history if seen is None or commit["timestamp"] >= seen]
            if len(since) < limit:
                return sorted(since, key=lambda commit: commit["version"])
            limit *= 4

    def commit_tagged(
        self, spark: SparkSession, key: str, value: str, since: datetime | None
    ) -> tuple[dict[str, Any] | None, int | None]:
        """The commit since time ``since`` whose ``userMetadata`` has ``key`` = ``value`` (None if
        there is none), and the table's latest version (None if there is no table).

        Other runs may have committed since, so "the latest commit" need not be the caller's.
        """
        commits = self.commits_since(spark, since)
        for commit in reversed(commits):
            try:
                tags = json.loads(commit.get("userMetadata") or "{}")
            except ValueError:
                continue
            if isinstance(tags, dict) and tags.get(key) == value:
                return commit, commits[-1]["version"]
        latest = commits[-1]["version"] if commits else None
        return None, latest

    def ensure_schema(self, spark: SparkSession) -> None:
        if self.catalog:
            spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{self.catalog}`.`{self.layer}`")


@contextmanager
def session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """Set a Spark session setting for the block, then restore what it was."""
    previous = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)


def commit_metadata(spark: SparkSession, metadata: Mapping[str, Any]) -> AbstractContextManager[None]:
    """Tag the Delta commits made inside the block with ``userMetadata`` (JSON)."""
    return session_conf(spark, COMMIT_METADATA_CONF, json.dumps(dict(metadata), sort_keys=True, default=str))
