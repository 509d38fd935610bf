"""How a Delta table is laid out, so that writers of different partitions do not conflict.

Delta checks a commit against the commits made since its transaction read the table: a
``replaceWhere`` or MERGE fails with ``ConcurrentAppendException`` when a concurrent commit added
files its read predicate could match. Delta can only rule a file out by its partition values, so
on an unpartitioned table every concurrent write of another day conflicts (measured: two threads
rewriting two different days, 6 conflicts in 12 writes; the same on a table partitioned by the
day, none). A new table is therefore Delta-partitioned by its Dagster partition columns:

- a ``DATE`` or string column (a day, a month's first day, a region) partitions the table as it is;
- a wall-clock ``TIMESTAMP_NTZ`` column (SQL Server ``datetime2``) gets a generated column
  :data:`PARTITION_DATE` ``= CAST(column AS DATE)``, the row's business day, which partitions the
  table; every write's predicate also names the days it covers, so the write reads only them;
- an instant (``TIMESTAMP``) does not partition the table: its day depends on the business day's
  zone, which a generated column cannot follow. Writes to such a table rely on the retry.

A table that exists keeps the layout it was created with (tables created before partitioning
was introduced stay unpartitioned and keep working; their writes conflict more and are retried).
An asset can choose its partition columns with ``delta_partition_by`` metadata (``[]``: none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from dagster._core.definitions.partitions.utils import TimeWindow
from dagster._core.storage.db_io_manager import TablePartitionDimension
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from mssql_lakehouse.lib.io.partition_predicates import quote_column

PARTITION_DATE = "_partition_date"


def day_of(column: str) -> str:
    """The generation expression of :data:`PARTITION_DATE` for a wall-clock timestamp column."""
    return f"CAST({quote_column(column)} AS DATE)"


@dataclass(frozen=True)
class TableLayout:
    """A table's Delta partition columns, and which of them are generated from which column."""

    partition_by: tuple[str, ...] = ()
    # generated partition column -> the timestamp column it is the day of
    generated_from: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def for_new_table(
        cls,
        dimensions: Sequence[TablePartitionDimension],
        column_types: Mapping[str, T.DataType],
        chosen: Sequence[str] | None = None,
    ) -> TableLayout:
        """The layout of a table created for ``dimensions``; ``chosen`` (asset metadata) overrides it."""
        if chosen is not None:
            return cls(partition_by=tuple(chosen))
        partition_by: list[str] = []
        generated: dict[str, str] = {}
        for dimension in dimensions:
            column = dimension.partition_expr
            column_type = column_types.get(column)
            if isinstance(column_type, (T.DateType, T.StringType)):
                partition_by.append(column)
            elif isinstance(column_type, T.TimestampNTZType) and isinstance(dimension.partitions, TimeWindow):
                generated[PARTITION_DATE] = column
                partition_by.append(PARTITION_DATE)
        if set(partition_by) >= set(column_types):
            # Delta keeps partition values in paths only: a table needs a column that is not one.
            return cls()
        return cls(partition_by=tuple(partition_by), generated_from=generated)

    @classmethod
    def of_table(cls, partition_columns: Sequence[str], dimensions: Sequence[TablePartitionDimension]) -> TableLayout:
        """The layout an existing table has: its partition columns, read from its metadata.

        Only this module creates :data:`PARTITION_DATE`, always as the day of the time dimension's
        column (Delta's read schema does not carry generation expressions).
        """
        generated = {}
        if PARTITION_DATE in partition_columns:
            source = next((d.partition_expr for d in dimensions if isinstance(d.partitions, TimeWindow)), None)
            if source:
                generated[PARTITION_DATE] = source
        return cls(partition_by=tuple(partition_columns), generated_from=generated)

    def describe(self) -> str:
        if not self.partition_by:
            return "unpartitioned"
        parts = [
            f"{c} (generated: {day_of(self.generated_from[c])})" if c in self.generated_from else c
            for c in self.partition_by
        ]
        return "partitioned by " + ", ".join(parts)

    def partition_values(self) -> list[Column]:
        """Expressions of the partition values, computable on a frame the table's writes take."""
        return [
            F.expr(day_of(self.generated_from[c])) if c in self.generated_from else F.col(quote_column(c))
            for c in self.partition_by
        ]

    def generated_columns(self) -> list[tuple[str, str]]:
        """(name, generation expression) of each generated column, for the table's creation."""
        return [(name, day_of(source)) for name, source in self.generated_from.items()]

    def partition_predicate(
        self, dimensions: Sequence[TablePartitionDimension], qualifier: str | None = None
    ) -> str | None:
        """The days a write of ``dimensions`` covers, on the generated partition column (None if none).

        ANDed to the write's predicate it selects the same rows (each row's day is computed from
        the timestamp the predicate bounds) and lets Delta know which partitions the write reads.
        """
        days = []
        for name, source in self.generated_from.items():
            window = next(
                (
                    d.partitions
                    for d in dimensions
                    if d.partition_expr == source and isinstance(d.partitions, TimeWindow)
                ),
                None,
            )
            if window is None:
                continue
            # Wall-clock: the window's local start and end are the timestamps the rows hold.
            first = window.start.date()
            last = (window.end - timedelta(microseconds=1)).date()
            column = quote_column(name, qualifier)
            days.append(f"({column} >= DATE'{first.isoformat()}' AND {column} <= DATE'{last.isoformat()}')")
        return " AND ".join(days) or None
