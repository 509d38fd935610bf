"""Where a Delta table lives and how to read, write and inspect it.

Locally a table is a folder ``<tables root>/<layer>/<table>``; on Databricks it
is the Unity Catalog name ``<catalog>.<layer>.<table>``. Everything above this
module works the same for both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, DataFrameWriter, SparkSession
from pyspark.sql.types import StructType

COMMIT_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"


@dataclass(frozen=True)
class DeltaLocation:
    layer: str
    table: str
    path: str | None = None
    catalog: str | None = None

    @classmethod
    def for_table(
        cls, layer: str, table: str, *, tables_root: str | None, catalog: str | None
    ) -> DeltaLocation:
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
        if self.catalog:
            return reader.table(f"{self.catalog}.{self.layer}.{self.table}")
        return reader.load(self.path)

    def save(self, writer: DataFrameWriter) -> None:
        if self.catalog:
            writer.saveAsTable(f"{self.catalog}.{self.layer}.{self.table}")
        else:
            writer.save(self.path)

    def create_empty(self, spark: SparkSession, schema: StructType, properties: Mapping[str, str]) -> None:
        """Create the table with ``schema`` and no rows, unless it exists (another run may have just made it)."""
        writer = spark.createDataFrame([], schema).write.format("delta").mode("ignore")
        for name, value in properties.items():
            writer = writer.option(name, value)
        self.save(writer)

    def ensure_schema(self, spark: SparkSession) -> None:
        if self.catalog:
            spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{self.catalog}`.`{self.layer}`")

    def last_commit(self, spark: SparkSession) -> dict[str, Any]:
        row = self.delta_table(spark).history(1).collect()[0]
        return row.asDict(recursive=True)


@contextmanager
def commit_metadata(spark: SparkSession, metadata: Mapping[str, Any]) -> Iterator[None]:
    """Tag the Delta commits made inside the block with ``userMetadata`` (JSON)."""
    previous = spark.conf.get(COMMIT_METADATA_CONF, None)
    spark.conf.set(COMMIT_METADATA_CONF, json.dumps(dict(metadata), sort_keys=True, default=str))
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(COMMIT_METADATA_CONF)
        else:
            spark.conf.set(COMMIT_METADATA_CONF, previous)
