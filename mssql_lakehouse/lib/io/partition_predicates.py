"""SQL predicates that select a Dagster partition's rows in a Delta table.

A time window becomes a half-open range over the whole window (so a backfill of
thirty days is one predicate and one atomic ``replaceWhere``), static keys become
an ``IN`` list, and the dimensions of a multi-partition are ANDed.

Literals are typed by the column they compare with. Wall-clock columns (``DATE``
and ``TIMESTAMP_NTZ``, which is how SQL Server ``datetime2`` lands) are compared
with the window's wall-clock time in the partition's time zone; instant columns
(``TIMESTAMP``) with the window's instant in UTC.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from math import prod

import dagster as dg
from dagster._core.definitions.partitions.utils import TimeWindow
from dagster._core.storage.db_io_manager import TablePartitionDimension
from pyspark.sql import types as T


def quote_column(name: str, qualifier: str | None = None) -> str:
    quoted = "`" + name.replace("`", "``") + "`"
    return f"{qualifier}.{quoted}" if qualifier else quoted


def _string_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _time_literal(moment: datetime, column_type: T.DataType | None) -> str:
    if isinstance(column_type, T.DateType):
        return f"DATE'{moment.strftime('%Y-%m-%d')}'"
    if isinstance(column_type, T.TimestampType):
        utc = moment.astimezone(UTC) if moment.tzinfo else moment
        return f"TIMESTAMP'{utc.strftime('%Y-%m-%d %H:%M:%S.%f')}+00:00'"
    # TIMESTAMP_NTZ, strings and unknown columns: the partition's wall-clock time.
    return f"TIMESTAMP_NTZ'{moment.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def dimension_predicate(
    dimension: TablePartitionDimension,
    column_types: Mapping[str, T.DataType],
    qualifier: str | None = None,
) -> str:
    column = quote_column(dimension.partition_expr, qualifier)
    partitions = dimension.partitions
    if isinstance(partitions, TimeWindow):
        column_type = column_types.get(dimension.partition_expr)
        start = _time_literal(partitions.start, column_type)
        end = _time_literal(partitions.end, column_type)
        return f"({column} >= {start} AND {column} < {end})"
    keys: Sequence[str] = partitions
    if not keys:
        return "FALSE"
    return f"{column} IN ({', '.join(_string_literal(k) for k in keys)})"


def slice_predicate(
    dimensions: Sequence[TablePartitionDimension],
    column_types: Mapping[str, T.DataType],
    qualifier: str | None = None,
) -> str | None:
    """The predicate for all partition dimensions of a table slice, or None if unpartitioned.

    ``qualifier`` prefixes the columns with a table alias (for MERGE conditions).
    """
    if not dimensions:
        return None
    return " AND ".join(dimension_predicate(d, column_types, qualifier) for d in dimensions)


def multi_partition_dimensions(
    partitions_def: dg.MultiPartitionsDefinition,
    keys: Sequence[str],
    partition_expr: Mapping[str, str],
) -> list[TablePartitionDimension]:
    """The dimensions of a set of multi-partition keys that form a rectangle (e.g. days x regions).

    A run over a range of a multi-partitioned asset covers every combination of the range's
    values in each dimension, which Dagster reports as several key ranges; the rectangle is one
    predicate: the time dimension's whole window AND the static keys. A set that is not a
    rectangle with consecutive time partitions has no such predicate, and is refused rather than
    letting a ``replaceWhere`` touch partitions outside the run.
    """
    parsed = [k if isinstance(k, dg.MultiPartitionKey) else partitions_def.get_partition_key_from_str(k) for k in keys]
    dimensions: list[TablePartitionDimension] = []
    values_per_dimension = []
    for dimension in partitions_def.partitions_defs:
        column = partition_expr.get(dimension.name)
        if column is None:
            raise ValueError(f"partition_expr has no column for the {dimension.name!r} dimension")
        values = sorted({k.keys_by_dimension[dimension.name] for k in parsed})
        values_per_dimension.append(values)
        inner = dimension.partitions_def
        if isinstance(inner, dg.TimeWindowPartitionsDefinition):
            windows = [inner.time_window_for_partition_key(v) for v in values]
            if any(a.end != b.start for a, b in itertools.pairwise(windows)):
                raise ValueError(f"the run's {dimension.name} partitions are not consecutive: {values}")
            dimensions.append(
                TablePartitionDimension(partition_expr=column, partitions=TimeWindow(windows[0].start, windows[-1].end))
            )
        else:
            dimensions.append(TablePartitionDimension(partition_expr=column, partitions=values))
    if prod(len(v) for v in values_per_dimension) != len(set(parsed)):
        raise ValueError(f"the run's partitions do not cover every combination of their dimensions: {sorted(keys)}")
    return dimensions


def describe_partitions(dimensions: Sequence[TablePartitionDimension]) -> str:
    """Human-readable partition values, for output metadata."""
    parts = []
    for d in dimensions:
        if isinstance(d.partitions, TimeWindow):
            parts.append(f"{d.partition_expr} in [{d.partitions.start.isoformat()}, {d.partitions.end.isoformat()})")
        else:
            parts.append(f"{d.partition_expr} in {list(d.partitions)}")
    return "; ".join(parts)
