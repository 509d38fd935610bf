"""Planning parallel JDBC reads: how many partitions, and the split key's bounds.

Spark's JDBC reader splits ``[lowerBound, upperBound)`` on ``partitionColumn``
into ``numPartitions`` equal strides; rows outside the bounds still land in the
first or last partition, so the bounds only shape the strides. We take them
from the source itself (``MIN``/``MAX`` of the split key over the window being
read), so the strides cover exactly the data of this window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SplitPlan:
    """Options for Spark's partitioned JDBC read."""

    partition_column: str
    lower_bound: int
    upper_bound: int
    num_partitions: int

    def options(self) -> dict[str, str]:
        return {
            "partitionColumn": self.partition_column,
            "lowerBound": str(self.lower_bound),
            "upperBound": str(self.upper_bound),
            "numPartitions": str(self.num_partitions),
        }


def plan_split(
    partition_column: str | None,
    row_count: int,
    min_value: int | None,
    max_value: int | None,
    target_rows_per_partition: int,
    max_partitions: int,
) -> SplitPlan | None:
    """A split over ``[min, max]``, or None when one partition will do.

    One partition per ``target_rows_per_partition`` rows, at most
    ``max_partitions`` (the source database's concurrency budget), never more
    partitions than distinct key values could fill.
    """
    if partition_column is None or min_value is None or max_value is None or row_count <= 0:
        return None
    lower, upper = int(min_value), int(max_value) + 1
    wanted = math.ceil(row_count / max(1, target_rows_per_partition))
    partitions = max(1, min(wanted, max_partitions, upper - lower))
    if partitions == 1:
        return None
    return SplitPlan(partition_column, lower, upper, partitions)
