"""A Dagster IO manager that stores PySpark DataFrames as Delta tables.

Shaped like ``dagster-deltalake``: ``DbIOManager`` does the asset-key and
partition bookkeeping, ``SparkDeltaClient`` connects, and
``SparkDataFrameDeltaHandler`` reads and writes. The asset key ``[layer, table]``
names the table. Asset metadata chooses how it is written:

``partition_expr``
    column (or ``{dimension: column}`` for multi-partitions) that holds the
    partition; a partitioned write replaces exactly the rows of its partitions
    (the whole time window of a backfill) in one atomic ``replaceWhere`` commit.
``write_mode``
    ``overwrite`` (default) or ``merge``: upsert by ``merge_keys``. The source is
    first reduced to one row per key, the latest by ``merge_order_by``, and a
    matched target row is only replaced by a row at least as new, so replaying
    old input never regresses the table. Rows with ``merge_delete_flag`` true
    delete their key.
``schema_evolution``
    ``additive`` (default: new columns are added) or ``none``. A change of an
    existing column's type is always refused before anything is written.

An asset can tag its Delta commit by returning
``dg.Output(df, metadata={"delta_commit_metadata": {...}})``; every commit is
tagged with the Dagster run id, asset and partition anyway.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._core.storage.db_io_manager import DbClient, DbIOManager, DbTypeHandler, TableSlice
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mssql_lakehouse.io.delta_tables import DeltaLocation, commit_metadata
from mssql_lakehouse.io.partition_predicates import describe_partitions, multi_partition_dimensions, slice_predicate
from mssql_lakehouse.io.schema_policy import SchemaEvolution, check_compatible
from mssql_lakehouse.resources.spark import SparkResource


@dataclass(frozen=True)
class WriteSettings:
    mode: str = "overwrite"
    merge_keys: tuple[str, ...] = ()
    merge_order_by: tuple[str, ...] = ()
    merge_delete_flag: str | None = None
    merge_scope: str = "partition"
    evolution: SchemaEvolution = SchemaEvolution.ADDITIVE

    @classmethod
    def from_metadata(cls, asset: str, metadata: Mapping[str, Any]) -> WriteSettings:
        mode = metadata.get("write_mode", "overwrite")
        if mode not in ("overwrite", "merge"):
            raise ValueError(f"{asset}: write_mode must be 'overwrite' or 'merge', not {mode!r}")
        keys = tuple(metadata.get("merge_keys") or ())
        if mode == "merge" and not keys:
            raise ValueError(f"{asset}: write_mode 'merge' needs merge_keys metadata")
        scope = metadata.get("merge_scope", "partition")
        if scope not in ("partition", "table"):
            raise ValueError(f"{asset}: merge_scope must be 'partition' or 'table', not {scope!r}")
        return cls(
            mode=mode,
            merge_keys=keys,
            merge_order_by=tuple(metadata.get("merge_order_by") or ()),
            merge_delete_flag=metadata.get("merge_delete_flag"),
            merge_scope=scope,
            evolution=SchemaEvolution(metadata.get("schema_evolution", "additive")),
        )


def latest_per_key(df: DataFrame, keys: Sequence[str], order_by: Sequence[str]) -> DataFrame:
    """One row per key: the last by ``order_by`` (all columns break ties, so it is deterministic)."""
    if not order_by:
        return df.dropDuplicates(list(keys))
    tie_breakers = [c for c in df.columns if c not in keys and c not in order_by]
    ordering = [F.col(c).desc_nulls_last() for c in order_by] + [
        F.col(c).desc_nulls_last() for c in tie_breakers if _orderable(df.schema[c].dataType)
    ]
    window = Window.partitionBy(*keys).orderBy(*ordering)
    return df.withColumn("__rank", F.row_number().over(window)).where("__rank = 1").drop("__rank")


def at_least_as_new(order_by: Sequence[str]) -> str | None:
    """MERGE condition: source row ``s`` sorts at or after target row ``t`` by ``order_by`` (lexicographic)."""
    if not order_by:
        return None
    first, rest = order_by[0], order_by[1:]
    tail = at_least_as_new(rest)
    if tail is None:
        return f"s.`{first}` >= t.`{first}`"
    return f"(s.`{first}` > t.`{first}` OR (s.`{first}` = t.`{first}` AND {tail}))"


def _orderable(data_type: T.DataType) -> bool:
    return not isinstance(data_type, (T.MapType, T.ArrayType, T.StructType, T.VariantType))


def _commit_tags(context: dg.OutputContext) -> dict[str, Any]:
    tags: dict[str, Any] = {"dagster_run_id": context.run_id}
    if context.has_asset_key:
        tags["asset"] = context.asset_key.to_user_string()
    if context.has_asset_partitions:
        if context.has_partition_key:
            tags["partitions"] = context.partition_key
        else:
            # Several key ranges when a run covers a rectangle of a multi-partitioned asset.
            keys = sorted(context.asset_partition_keys)
            tags["partitions"] = f"{keys[0]}..{keys[-1]}"
    extra = context.output_metadata.get("delta_commit_metadata")
    if extra is not None:
        tags.update(getattr(extra, "value", extra))
    return tags


class SparkDataFrameDeltaHandler(DbTypeHandler[DataFrame]):
    def __init__(self, tables_root: str | None, catalog: str | None):
        self._tables_root = tables_root
        self._catalog = catalog

    def location(self, table_slice: TableSlice) -> DeltaLocation:
        return DeltaLocation.for_table(
            table_slice.schema, table_slice.table, tables_root=self._tables_root, catalog=self._catalog
        )

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [DataFrame]

    def handle_output(
        self, context: dg.OutputContext, table_slice: TableSlice, obj: DataFrame, connection: SparkSession
    ) -> Mapping[str, Any]:
        spark = connection
        location = self.location(table_slice)
        settings = WriteSettings.from_metadata(location.name, context.definition_metadata or {})
        exists = location.exists(spark)
        incoming = obj.drop(settings.merge_delete_flag) if settings.merge_delete_flag else obj
        added: list[str] = []
        if exists:
            added = check_compatible(
                location.name, location.read(spark).schema, incoming.schema, settings.evolution
            )
        column_types = {f.name: f.dataType for f in incoming.schema.fields}
        predicate = slice_predicate(table_slice.partition_dimensions or [], column_types)

        with commit_metadata(spark, _commit_tags(context)):
            if settings.mode == "merge" and exists:
                scope = None
                if settings.merge_scope == "partition":
                    scope = slice_predicate(table_slice.partition_dimensions or [], column_types, "t")
                self._merge(spark, location, obj, settings, scope)
            else:
                rows = obj
                if settings.mode == "merge":
                    rows = self._dedup(obj, settings)
                    if settings.merge_delete_flag:
                        rows = rows.where(~F.coalesce(F.col(settings.merge_delete_flag), F.lit(False)))
                        rows = rows.drop(settings.merge_delete_flag)
                writer = rows.write.format("delta").mode("overwrite")
                if settings.mode == "merge" and not exists:
                    # The change feed tells later merges which partitions they touched.
                    writer = writer.option("delta.enableChangeDataFeed", "true")
                if predicate and exists:
                    writer = writer.option("replaceWhere", predicate)
                if added:
                    writer = writer.option("mergeSchema", "true")
                location.save(writer)

        commit = location.last_commit(spark)
        metrics = commit.get("operationMetrics") or {}
        if settings.mode == "overwrite" and "numOutputRows" in metrics:
            row_count = int(metrics["numOutputRows"])
        else:
            written = location.read(spark)
            row_count = (written.where(predicate) if predicate else written).count()
        final_schema = location.read(spark).schema
        metadata: dict[str, Any] = {
            "dagster/row_count": row_count,
            "dagster/uri": location.uri,
            "dagster/column_schema": dg.TableSchema(
                columns=[
                    dg.TableColumn(name=f.name, type=f.dataType.simpleString()) for f in final_schema.fields
                ]
            ),
            "delta_version": int(commit["version"]),
            "delta_operation": commit["operation"],
            "delta_operation_metrics": dg.MetadataValue.json(dict(metrics)),
        }
        if table_slice.partition_dimensions:
            metadata["partition_values_written"] = describe_partitions(table_slice.partition_dimensions)
        if added:
            metadata["columns_added"] = ", ".join(added)
        if settings.mode == "merge" and len(table_slice.partition_dimensions or []) == 1:
            column = table_slice.partition_dimensions[0].partition_expr
            metadata["touched_partition_values"] = dg.MetadataValue.json(
                self._touched_values(spark, location, int(commit["version"]), column)
            )
        return metadata

    @staticmethod
    def _touched_values(spark: SparkSession, location: DeltaLocation, version: int, column: str) -> list[str]:
        """Partition-column values of every row the commit inserted, updated (before and after) or deleted.

        A merge scoped to the whole table can change rows of other partitions (a late update of an
        old order); downstream partitions of those values are stale, and this says which.
        """
        changes = (
            spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", version)
            .option("endingVersion", version)
        )
        changes = changes.table(location.uri) if location.catalog else changes.load(location.path)
        values = changes.select(F.col(column).cast("string").alias("v")).distinct().collect()
        return sorted(r["v"] for r in values if r["v"] is not None)

    @staticmethod
    def _dedup(df: DataFrame, settings: WriteSettings) -> DataFrame:
        return latest_per_key(df, settings.merge_keys, settings.merge_order_by)

    def _merge(
        self,
        spark: SparkSession,
        location: DeltaLocation,
        df: DataFrame,
        settings: WriteSettings,
        target_scope: str | None,
    ) -> None:
        source = self._dedup(df, settings)
        on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in settings.merge_keys)
        if target_scope:
            on = f"{on} AND {target_scope}"
        newer = at_least_as_new(settings.merge_order_by)
        columns = [c for c in source.columns if c != settings.merge_delete_flag]
        assignments = {f"`{c}`": f"s.`{c}`" for c in columns}
        builder = location.delta_table(spark).alias("t").merge(source.alias("s"), on)
        builder = builder.withSchemaEvolution()
        flag = settings.merge_delete_flag
        if flag:
            deleted = f"coalesce(s.`{flag}`, false)"
            delete_cond = f"{deleted} AND ({newer})" if newer else deleted
            builder = builder.whenMatchedDelete(condition=delete_cond)
            update_cond = f"NOT {deleted}" + (f" AND ({newer})" if newer else "")
            builder = builder.whenMatchedUpdate(condition=update_cond, set=assignments)
            builder = builder.whenNotMatchedInsert(condition=f"NOT {deleted}", values=assignments)
        else:
            builder = builder.whenMatchedUpdate(condition=newer, set=assignments)
            builder = builder.whenNotMatchedInsert(values=assignments)
        builder.execute()

    def load_input(
        self, context: dg.InputContext, table_slice: TableSlice, connection: SparkSession
    ) -> DataFrame:
        location = self.location(table_slice)
        df = location.read(connection)
        column_types = {f.name: f.dataType for f in df.schema.fields}
        predicate = slice_predicate(table_slice.partition_dimensions or [], column_types)
        if predicate:
            df = df.where(predicate)
        if table_slice.columns:
            df = df.select(*table_slice.columns)
        return df


class _DeltaDbIOManager(DbIOManager):
    """``DbIOManager`` that also handles runs over several partitions of a multi-partitioned asset.

    Dagster describes such a run (say three days x two regions) as several key ranges, which
    ``DbIOManager`` cannot slice; here the run's keys become one rectangle of dimensions.
    """

    def _get_table_slice(self, context, output_context: dg.OutputContext) -> TableSlice:
        multi = context.has_asset_partitions and isinstance(context.asset_partitions_def, dg.MultiPartitionsDefinition)
        if not multi or context.has_partition_key:
            return super()._get_table_slice(context, output_context)
        metadata = output_context.definition_metadata or {}
        partition_expr = metadata.get("partition_expr")
        if not isinstance(partition_expr, Mapping):
            raise ValueError(f"{context.asset_key.to_user_string()}: multi-partitions need partition_expr {{dimension: column}}")
        path = context.asset_key.path
        return TableSlice(
            table=path[-1],
            schema=metadata.get("schema") or self._schema or path[-2],
            database=self._database,
            partition_dimensions=multi_partition_dimensions(
                context.asset_partitions_def, context.asset_partition_keys, partition_expr
            ),
            columns=(context.definition_metadata or {}).get("columns"),
        )


class SparkDeltaClient(DbClient[SparkSession]):
    def __init__(self, spark: SparkResource, handler: SparkDataFrameDeltaHandler):
        self._spark = spark
        self._handler = handler

    def delete_table_slice(self, context, table_slice: TableSlice, connection: SparkSession) -> None:
        # Nothing to delete up front: the write replaces its slice atomically (replaceWhere).
        return None

    @staticmethod
    def get_select_statement(table_slice: TableSlice) -> str:
        columns = ", ".join(table_slice.columns) if table_slice.columns else "*"
        return f"SELECT {columns} FROM {table_slice.schema}.{table_slice.table}"

    def ensure_schema_exists(self, context, table_slice: TableSlice, connection: SparkSession) -> None:
        self._handler.location(table_slice).ensure_schema(connection)

    @contextmanager
    def connect(self, context, table_slice: TableSlice) -> Iterator[SparkSession]:
        yield self._spark.get_session()


class DeltaLakePySparkIOManager(dg.ConfigurableIOManagerFactory):
    """Stores each asset as a Delta table named by its key ``[layer, table]``.

    Set ``tables_root`` (a local folder or cloud URI) for path-based tables, or
    ``catalog`` for Unity Catalog tables ``<catalog>.<layer>.<table>``.
    """

    spark: SparkResource
    tables_root: str | None = None
    catalog: str | None = None

    def create_io_manager(self, context) -> DbIOManager:
        if bool(self.tables_root) == bool(self.catalog):
            raise dg.DagsterInvalidConfigError(
                "DeltaLakePySparkIOManager needs exactly one of tables_root or catalog", [], None
            )
        handler = SparkDataFrameDeltaHandler(self.tables_root, self.catalog)
        return _DeltaDbIOManager(
            type_handlers=[handler],
            db_client=SparkDeltaClient(self.spark, handler),
            database=self.catalog or "",
            io_manager_name="DeltaLakePySparkIOManager",
            default_load_type=DataFrame,
        )
