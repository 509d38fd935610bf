"""A Dagster IO manager that stores PySpark DataFrames as Delta tables.

Shaped like ``dagster-deltalake``: ``DbIOManager`` does the asset-key and
partition bookkeeping, ``SparkDeltaClient`` connects, and
``SparkDataFrameDeltaHandler`` reads and writes. The asset key ``[layer, table]``
names the table. Asset metadata chooses how it is written:

``partition_expr``
    column (or ``{dimension: column}`` for multi-partitions) that holds the
    partition; a partitioned write replaces exactly the rows of its partitions
    (the whole time window of a backfill) in one atomic ``replaceWhere`` commit.
    A write refuses rows outside its partitions, on the table's first write as on
    every later one, naming an offending value; nothing is written then.
``write_mode``
    ``overwrite`` (default) or ``merge``: upsert by ``merge_keys``. The source is
    first reduced to one row per key, the latest by ``merge_order_by`` (a null
    sorts oldest), and a matched target row is only replaced by a row at least as
    new that differs from it, so replaying old input never regresses the table and
    an identical replay changes no row. Rows with ``merge_delete_flag`` true
    delete their key. ``merge_scope`` ``partition`` (default) matches and changes
    target rows of the written partitions only (source rows of other partitions
    are refused); ``table`` matches keys anywhere. ``merge_replace_by`` (a subset
    of the keys) says the source is complete for each of those columns' values it
    has: target rows with such a value (in scope) that the source lacks are
    deleted in the same commit. The first write creates the table empty and merges
    into it, so it behaves as any later write.
``schema_evolution``
    ``additive`` (default: new columns are added) or ``none``. A change of an
    existing column's type is always refused before anything is written.

An asset can tag its Delta commit by returning
``dg.Output(df, metadata={"delta_commit_metadata": {...}})``; every commit is
tagged with the Dagster run id, asset and partition anyway. An asset that has
counted its rows says so with ``output_rows``: a large write (a large input, or a MERGE
across a large table) is run with compiled expressions (``compilation.py``), and Spark
cannot size every source itself.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import dagster as dg
from dagster._core.storage.db_io_manager import (
    DbClient,
    DbIOManager,
    DbTypeHandler,
    TablePartitionDimension,
    TableSlice,
)
from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
from pydantic import Field
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mssql_lakehouse.lib.io.compilation import compiled_if_large
from mssql_lakehouse.lib.io.delta_tables import DeltaLocation, TableState, commit_metadata
from mssql_lakehouse.lib.io.partition_predicates import (
    describe_partitions,
    multi_partition_dimensions,
    quote_column,
    slice_predicate,
)
from mssql_lakehouse.lib.io.schema_policy import SchemaEvolution, check_compatible
from mssql_lakehouse.lib.io.table_layout import TableLayout
from mssql_lakehouse.lib.resources.spark import SparkResource


class TableBeingCreated(RuntimeError):
    """The table's location has a Delta log folder but no commit yet: another run is creating it."""


# What Delta says when asked to create a table whose folder another run's creation has begun: its log
# folder exists with no commit in it yet (the table is "not found"), or holds that run's first files.
BEING_CREATED = ("DELTA_TABLE_NOT_FOUND", "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION")

# Delta's optimistic-concurrency failures: another commit got in between this write's read and its commit.
DELTA_CONFLICTS = (
    TableBeingCreated,
    DeltaConcurrentModificationException,
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    ConcurrentDeleteDeleteException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    MetadataChangedException,
    ProtocolChangedException,
)

# Marks the merge source's rows that stand for target rows ``merge_replace_by`` deletes.
REPLACED = "__replaced"


@dataclass(frozen=True)
class WriteSettings:
    mode: str = "overwrite"
    merge_keys: tuple[str, ...] = ()
    merge_order_by: tuple[str, ...] = ()
    merge_delete_flag: str | None = None
    merge_scope: str = "partition"
    merge_replace_by: tuple[str, ...] = ()
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
        replace_by = tuple(metadata.get("merge_replace_by") or ())
        if not set(replace_by) <= set(keys):
            raise ValueError(f"{asset}: merge_replace_by {list(replace_by)} must be among merge_keys {list(keys)}")
        return cls(
            mode=mode,
            merge_keys=keys,
            merge_order_by=tuple(metadata.get("merge_order_by") or ()),
            merge_delete_flag=metadata.get("merge_delete_flag"),
            merge_scope=scope,
            merge_replace_by=replace_by,
            evolution=SchemaEvolution(metadata.get("schema_evolution", "additive")),
        )


def latest_per_key(df: DataFrame, keys: Sequence[str], order_by: Sequence[str]) -> DataFrame:
    """One row per key: the last by ``order_by``, nulls oldest (all columns break ties, so it is deterministic)."""
    if not order_by:
        return df.dropDuplicates(list(keys))
    tie_breakers = [c for c in df.columns if c not in keys and c not in order_by]
    ordering = [F.col(c).desc_nulls_last() for c in order_by] + [
        F.col(c).desc_nulls_last() for c in tie_breakers if _orderable(df.schema[c].dataType)
    ]
    window = Window.partitionBy(*keys).orderBy(*ordering)
    return df.withColumn("__rank", F.row_number().over(window)).where("__rank = 1").drop("__rank")


def at_least_as_new(order_by: Sequence[str]) -> str | None:
    """MERGE condition: source row ``s`` sorts at or after target row ``t`` by ``order_by`` (lexicographic).

    A null sorts before every value, as in :func:`latest_per_key`: a row without an ordering
    value is replaced by one that has it and never replaces one. The condition is never null
    (a null condition would leave the target row unchangeable).
    """
    if not order_by:
        return None
    first, rest = order_by[0], order_by[1:]
    s, t = quote_column(first, "s"), quote_column(first, "t")
    tail = at_least_as_new(rest)
    if tail is None:
        return f"coalesce({s} >= {t}, {t} IS NULL)"
    return f"(coalesce({s} > {t}, {s} IS NOT NULL AND {t} IS NULL) OR ({s} <=> {t} AND {tail}))"


def differs(columns: Sequence[str], types: Mapping[str, T.DataType], target_columns: set[str]) -> str:
    """MERGE condition: source row ``s`` has a value other than target row ``t``'s in one of ``columns``.

    Null-safe. A column the target does not have yet (schema evolution) holds null there.
    """
    changes = []
    for c in columns:
        s, t = quote_column(c, "s"), quote_column(c, "t")
        if c.lower() not in target_columns:
            changes.append(f"{s} IS NOT NULL")
        elif _equatable(types[c]):
            changes.append(f"NOT ({s} <=> {t})")
        else:
            changes.append(f"NOT (to_json({s}) <=> to_json({t}))")
    return " OR ".join(changes) or "FALSE"


def _all_of(*conditions: str | None) -> str | None:
    parts = [f"({c})" for c in conditions if c]
    return " AND ".join(parts) or None


def _orderable(data_type: T.DataType) -> bool:
    return not isinstance(data_type, (T.MapType, T.ArrayType, T.StructType, T.VariantType))


def _equatable(data_type: T.DataType) -> bool:
    """Whether Spark compares values of the type with ``<=>`` (it cannot compare maps or variants)."""
    if isinstance(data_type, (T.MapType, T.VariantType)):
        return False
    if isinstance(data_type, T.ArrayType):
        return _equatable(data_type.elementType)
    if isinstance(data_type, T.StructType):
        return all(_equatable(f.dataType) for f in data_type.fields)
    return True


class RowsOutsidePartitionError(ValueError):
    """A partitioned write's rows include rows of other partitions; nothing was written."""


def refuse_rows_outside(
    table: str, df: DataFrame, predicate: str, dimensions: Sequence[TablePartitionDimension]
) -> None:
    """Raise :class:`RowsOutsidePartitionError`, naming an example, if ``df`` has rows outside ``predicate``."""
    columns = [d.partition_expr for d in dimensions]
    outside = df.where(f"NOT coalesce(({predicate}), false)").select(*columns).limit(1).collect()
    if outside:
        example = ", ".join(f"{c}={outside[0][c]}" for c in columns)
        raise RowsOutsidePartitionError(
            f"Refusing to write {table}: the output has rows outside the partition(s) written"
            f" ({describe_partitions(dimensions)}), for example {example}. Nothing was written."
            " The asset must return only its partitions' rows (does its source use the business day's time zone?)."
        )


def _metadata_value(value: Any) -> Any:
    """A plain value given as output metadata, whether the asset wrapped it in a MetadataValue or not."""
    return getattr(value, "value", value)


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
        tags.update(_metadata_value(extra))
    return tags


def _same_values(left: str, right: str, columns: Sequence[str]) -> list[Column]:
    """Join condition: the aliased frames agree on ``columns``, nulls equal (as the merge's ``<=>``)."""
    return [F.col(f"{left}.{quote_column(c)}").eqNullSafe(F.col(f"{right}.{quote_column(c)}")) for c in columns]


def _replaced_rows(target: DataFrame, source: DataFrame, settings: WriteSettings) -> DataFrame:
    """Target rows of the source's ``merge_replace_by`` values whose key the source lacks, flagged :data:`REPLACED`.

    Merged by key, they match the rows they came from, which are then deleted. Only target rows
    of the batch's values are read into the merge, so its cost follows the batch, not the table.
    """
    by, keys = settings.merge_replace_by, settings.merge_keys
    values = source.select(*by).distinct().alias("v")
    mentioned = target.alias("t").join(values, _same_values("t", "v", by), "left_semi")
    missing = mentioned.alias("t").join(source.select(*keys).alias("k"), _same_values("t", "k", keys), "left_anti")
    target_columns = {c.lower() for c in target.columns}
    as_source = [
        F.col(quote_column(f.name)) if f.name.lower() in target_columns else F.lit(None).cast(f.dataType).alias(f.name)
        for f in source.schema.fields
    ]
    return missing.select(*as_source, F.lit(True).alias(REPLACED))


class DeltaWriteConflictError(RuntimeError):
    """A write kept losing Delta's optimistic-concurrency check to other writers; nothing was committed."""


def _describe_competitor(commits: Sequence[Mapping[str, Any]]) -> str:
    """The latest commit another writer made since a write read the table, as a user can look it up."""
    if not commits:
        return "unknown (no commit since the write read the table)"
    commit = commits[-1]
    try:
        tags = json.loads(commit.get("userMetadata") or "{}")
    except ValueError:
        tags = {}
    by = ", ".join(f"{k} {tags[k]}" for k in ("asset", "partitions", "dagster_run_id") if k in tags)
    return f"version {commit['version']} ({commit['operation']}{', ' + by if by else ''})"


class SparkDataFrameDeltaHandler(DbTypeHandler[DataFrame]):
    def __init__(
        self,
        tables_root: str | None,
        catalog: str | None,
        *,
        conflict_retries: int = 5,
        conflict_backoff_seconds: float = 1.0,
        table_layout: str = "by_partition",
    ):
        self._tables_root = tables_root
        self._catalog = catalog
        self._conflict_retries = conflict_retries
        self._conflict_backoff_seconds = conflict_backoff_seconds
        self._table_layout = table_layout

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
        metadata_in = context.definition_metadata or {}
        settings = WriteSettings.from_metadata(location.name, metadata_in)
        dimensions = table_slice.partition_dimensions or []
        # Ties this write to its commit, which need not be the table's latest once others commit too.
        tags = {**_commit_tags(context), "write_id": uuid.uuid4().hex}
        rows = _metadata_value(context.output_metadata.get("output_rows"))
        retries: list[str] = []
        while True:
            state = location.state(spark)
            seen = state.last_commit_at if state else None
            # A MERGE across the whole table reads all of it: a small day's merge into a large table is large.
            table_merge = state is not None and settings.mode == "merge" and settings.merge_scope == "table"
            reads = (lambda: location.read(spark)) if table_merge else None
            try:
                with commit_metadata(spark, tags), compiled_if_large(spark, obj, rows, reads) as compiled:
                    added, layout = self._write(spark, location, state, obj, settings, dimensions, metadata_in)
                break
            except DELTA_CONFLICTS as conflict:
                competitor = _describe_competitor(location.commits_since(spark, seen))
                if len(retries) >= self._conflict_retries:
                    raise DeltaWriteConflictError(
                        f"{location.name}: the write lost a Delta conflict {len(retries) + 1} times in a row;"
                        f" the last competing commit: {competitor}. Nothing of this write was committed."
                        f" Delta said: {str(conflict).splitlines()[0]}"
                    ) from conflict
                delay = self._conflict_backoff_seconds * 2 ** len(retries) * random.uniform(1, 2)
                retries.append(competitor)
                context.log.warning(
                    f"{location.name}: a concurrent commit ({competitor}) conflicts with this write;"
                    f" retrying from the new snapshot in {delay:.1f} s ({len(retries)} of {self._conflict_retries})"
                )
                time.sleep(delay)

        commit, latest = location.commit_tagged(spark, "write_id", tags["write_id"], seen)
        if commit is None:
            # Delta commits nothing for a write that changes nothing (no rows to remove or add).
            commit = {"version": latest, "operation": "NONE (nothing to change)"}
        version = int(commit["version"])
        written = location.read(spark, version=version)
        metrics = commit.get("operationMetrics") or {}
        column_types = {f.name: f.dataType for f in written.schema.fields}
        predicate = slice_predicate(dimensions, column_types)
        if settings.mode == "overwrite" and "numOutputRows" in metrics:
            row_count = int(metrics["numOutputRows"])
        else:
            row_count = (written.where(predicate) if predicate else written).count()
        metadata: dict[str, Any] = {
            "dagster/row_count": row_count,
            "dagster/uri": location.uri,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name=f.name, type=f.dataType.simpleString()) for f in written.schema.fields]
            ),
            "delta_version": version,
            "delta_operation": commit["operation"],
            "delta_operation_metrics": dg.MetadataValue.json(dict(metrics)),
            "delta_layout": layout.describe(),
            "delta_conflict_retries": len(retries),
            "spark_compiled_expressions": compiled,
        }
        if retries:
            metadata["delta_conflicts_lost_to"] = dg.MetadataValue.json(retries)
        if dimensions:
            metadata["partition_values_written"] = describe_partitions(dimensions)
        if added:
            metadata["columns_added"] = ", ".join(added)
        if settings.mode == "merge" and len(dimensions) == 1:
            changed_rows = sum(
                int(metrics.get(f"numTargetRows{kind}", 0)) for kind in ("Inserted", "Updated", "Deleted")
            )
            touched = (
                self._touched_values(spark, location, version, dimensions[0].partition_expr) if changed_rows else []
            )
            metadata["touched_partition_values"] = dg.MetadataValue.json(touched)
        return metadata

    def _write(
        self,
        spark: SparkSession,
        location: DeltaLocation,
        state: TableState | None,
        obj: DataFrame,
        settings: WriteSettings,
        dimensions: Sequence[TablePartitionDimension],
        metadata: Mapping[str, Any],
    ) -> tuple[list[str], TableLayout]:
        """One attempt at the write of ``obj`` into the table as ``state`` found it (None: no table yet);
        returns the columns it adds and the table's layout."""
        incoming = obj.drop(settings.merge_delete_flag) if settings.merge_delete_flag else obj
        column_types = {f.name: f.dataType for f in incoming.schema.fields}
        predicate = slice_predicate(dimensions, column_types)
        scope = predicate if settings.mode == "merge" and settings.merge_scope == "partition" else None
        if scope:
            # Matched only within the partitions, a row of another one would be inserted again by
            # every replay. (An overwrite's rows are checked by Delta against its replaceWhere.)
            refuse_rows_outside(location.name, obj, scope, dimensions)
        if state is None:
            if predicate and settings.mode == "overwrite":
                # Delta checks an overwrite's rows against replaceWhere; refused here, nothing is created.
                refuse_rows_outside(location.name, incoming, predicate, dimensions)
            # Created empty with its layout, the table takes its first rows as any later write does:
            # a run that created it meanwhile is neither replaced whole nor laid out differently.
            layout = TableLayout.for_new_table(dimensions, column_types, self._chosen_partition_columns(metadata))
            properties = {"delta.enableChangeDataFeed": "true"} if settings.mode == "merge" else {}
            try:
                location.create_empty(spark, incoming.schema, layout, properties)
            except AnalysisException as error:
                if error.getCondition() in BEING_CREATED:
                    raise TableBeingCreated(
                        f"{location.uri} has files but no Delta commit: another run is creating the table"
                        " (if none is, a run killed while creating it left them: remove the folder)"
                    ) from error
                raise
            # Read back: a run that created it meanwhile may have laid it out otherwise (another table_layout).
            state = location.state(spark)
        target = location.read(spark)
        added = check_compatible(location.name, target.schema, incoming.schema, settings.evolution)
        layout = state.layout(dimensions)
        if settings.mode == "merge":
            target_scope = None
            if scope:
                target_scope = _all_of(
                    slice_predicate(dimensions, column_types, "t"), layout.partition_predicate(dimensions, "t")
                )
            self._merge(spark, location, obj, settings, scope, target_scope)
        else:
            replace = _all_of(predicate, layout.partition_predicate(dimensions))
            try:
                self._overwrite(location, incoming, replace, added, layout)
            except AnalysisException as error:
                if error.getCondition() == "DELTA_REPLACE_WHERE_MISMATCH":
                    refuse_rows_outside(location.name, incoming, predicate, dimensions)
                raise
        return added, layout

    def _chosen_partition_columns(self, metadata: Mapping[str, Any]) -> Sequence[str] | None:
        if self._table_layout == "unpartitioned":
            return ()
        chosen = metadata.get("delta_partition_by")
        return None if chosen is None else tuple(chosen)

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
    def _overwrite(
        location: DeltaLocation, df: DataFrame, predicate: str | None, added: Sequence[str], layout: TableLayout
    ) -> None:
        """Replace the rows of ``predicate`` (the whole table without one) by ``df`` in one commit."""
        if layout.partition_by:
            # A day's rows in one task, so one file per day, not one per task per day (a 90-day
            # backfill wrote 360 files into each gold table, and took 1.6x as long, before this).
            df = df.repartition(*layout.partition_values())
        writer = df.write.format("delta").mode("overwrite")
        if added:
            writer = writer.option("mergeSchema", "true")
        if predicate:
            writer = writer.option("replaceWhere", predicate)
        location.save(writer)

    def _merge(
        self,
        spark: SparkSession,
        location: DeltaLocation,
        df: DataFrame,
        settings: WriteSettings,
        scope: str | None,
        target_scope: str | None,
    ) -> None:
        """Merge ``df`` by key; ``scope`` (``target_scope`` on alias ``t``) limits the target rows it may change."""
        flag = settings.merge_delete_flag
        # A delete marker wins a tie with the live row of its own version: it deletes that version.
        source = latest_per_key(df, settings.merge_keys, (*settings.merge_order_by, *((flag,) if flag else ())))
        columns = [c for c in source.columns if c != flag]
        target = location.read(spark)
        replaced = None
        if settings.merge_replace_by:
            in_scope = target.where(scope) if scope else target
            source = source.withColumn(REPLACED, F.lit(False)).unionByName(
                _replaced_rows(in_scope, source, settings), allowMissingColumns=True
            )
            replaced = quote_column(REPLACED, "s")

        on = " AND ".join(f"{quote_column(k, 't')} <=> {quote_column(k, 's')}" for k in settings.merge_keys)
        if target_scope:
            on = f"{on} AND {target_scope}"
        newer = at_least_as_new(settings.merge_order_by)
        values = [c for c in columns if c not in settings.merge_keys]
        types = {f.name: f.dataType for f in source.schema.fields}
        changed = differs(values, types, {c.lower() for c in target.columns})
        deleted = f"coalesce(s.{quote_column(flag)}, false)" if flag else None
        live = f"NOT {deleted}" if deleted else None
        assignments = {quote_column(c): quote_column(c, "s") for c in columns}

        builder = location.delta_table(spark).alias("t").merge(source.alias("s"), on).withSchemaEvolution()
        # The first matched clause whose condition holds applies, so a replaced row is deleted whatever its order.
        if replaced:
            builder = builder.whenMatchedDelete(condition=replaced)
        if deleted:
            builder = builder.whenMatchedDelete(condition=_all_of(deleted, newer))
        builder = builder.whenMatchedUpdate(condition=_all_of(live, newer, changed), set=assignments)
        insert = _all_of(live, f"NOT {replaced}" if replaced else None)
        builder = builder.whenNotMatchedInsert(condition=insert, values=assignments)
        builder.execute()

    def load_input(self, context: dg.InputContext, table_slice: TableSlice, connection: SparkSession) -> DataFrame:
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
            raise ValueError(
                f"{context.asset_key.to_user_string()}: multi-partitions need partition_expr {{dimension: column}}"
            )
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
    conflict_retries: int = Field(
        default=5, ge=0, description="How many times a write that loses a Delta conflict is retried."
    )
    conflict_backoff_seconds: float = Field(
        default=1.0, ge=0, description="The first retry's wait; each next one doubles it (with jitter)."
    )
    table_layout: Literal["by_partition", "unpartitioned"] = Field(
        default="by_partition",
        description="How new tables are laid out: Delta-partitioned by their partition columns (so writers of"
        " different partitions do not conflict), or unpartitioned (the layout before; for comparison).",
    )

    def create_io_manager(self, context) -> DbIOManager:
        if bool(self.tables_root) == bool(self.catalog):
            raise dg.DagsterInvalidConfigError(
                "DeltaLakePySparkIOManager needs exactly one of tables_root or catalog", [], None
            )
        handler = SparkDataFrameDeltaHandler(
            self.tables_root,
            self.catalog,
            conflict_retries=self.conflict_retries,
            conflict_backoff_seconds=self.conflict_backoff_seconds,
            table_layout=self.table_layout,
        )
        return _DeltaDbIOManager(
            type_handlers=[handler],
            db_client=SparkDeltaClient(self.spark, handler),
            database=self.catalog or "",
            io_manager_name="DeltaLakePySparkIOManager",
            default_load_type=DataFrame,
        )
