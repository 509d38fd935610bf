"""Reconciliation figures: a row count and exact sums, computed the same way at both ends.

``CHECKSUM_AGG`` exists on SQL Server only and cannot be recomputed in Spark, so
the figures are ones every engine computes identically: the row count, the sum
of each integer key column and the sum of each ``reconcile_columns`` column,
all as exact decimals. The source side is one control query over the same
relation and window predicates as the extraction; :func:`frame_figures` gives
the same figures for a DataFrame (what was extracted, or a bronze partition).
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.lib.sources.type_mapping import SourceColumn


@dataclass(frozen=True)
class ReconciliationFigures:
    row_count: int
    sums: dict[str, decimal.Decimal | None] = field(default_factory=dict)

    def to_metadata(self, prefix: str = "source_") -> dict[str, Any]:
        out: dict[str, Any] = {f"{prefix}row_count": self.row_count}
        for name, value in self.sums.items():
            out[f"{prefix}sum_{name}"] = None if value is None else str(value)
        return out

    def differences(self, other: ReconciliationFigures) -> list[str]:
        """Human-readable differences (empty when the figures agree)."""
        out = []
        if self.row_count != other.row_count:
            out.append(f"row count {self.row_count} != {other.row_count}")
        for name in sorted(set(self.sums) | set(other.sums)):
            a, b = self.sums.get(name), other.sums.get(name)
            if a != b:
                out.append(f"sum of {name} {a} != {b}")
        return out


def summable(column: SourceColumn) -> bool:
    return column.is_integer or column.sql_type in {"decimal", "money", "smallmoney"}


def frame_figures(df: DataFrame, sum_columns: list[str]) -> ReconciliationFigures:
    """The figures of a DataFrame, for comparison with :class:`ReconciliationFigures` of the source."""
    aggs = [F.count(F.lit(1)).alias("n")] + [
        F.sum(F.col(c).cast("decimal(38,4)")).alias(f"s{i}") for i, c in enumerate(sum_columns)
    ]
    row = df.agg(*aggs).collect()[0]
    sums = {c: normalise_sum(row[f"s{i}"]) for i, c in enumerate(sum_columns)}
    return ReconciliationFigures(int(row["n"]), sums)


def normalise_sum(value: Any) -> decimal.Decimal | None:
    """Sums compare at 4 decimals on both ends (the scale of the SUM casts)."""
    if value is None:
        return None
    return decimal.Decimal(value).quantize(decimal.Decimal("0.0001"))
