"""Is the replica what the source was, and how far behind is it?

The replica is compared with the source *as of the version it replicated* (time
travel), so a source that moved on since the last pass shows as lag, not as a
mismatch. Content is compared by row count and an order-independent hash: the sum
of a 64-bit hash of every row (nulls marked, so ``(null, 1)`` and ``(1, null)``
differ), which also counts duplicate rows. Both sides are read through their logs, so files
no commit references (a failed write's orphans, a killed pass's copies) are never compared.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import MapType

from mssql_lakehouse.lib.io.delta_tables import DeltaLocation


@dataclass(frozen=True)
class Fingerprint:
    rows: int
    content_hash: str
    schema: str


def fingerprint(df: DataFrame) -> Fingerprint:
    columns = [F.col(f"`{f.name}`") for f in df.schema.fields]
    # Spark cannot hash maps; their JSON text stands in for them.
    hashable = [
        F.to_json(c) if isinstance(f.dataType, MapType) else c for c, f in zip(columns, df.schema.fields, strict=False)
    ]
    row_hash = F.xxhash64(*hashable, *[F.isnull(c) for c in columns]).cast("decimal(20,0)")
    row = df.agg(F.count(F.lit(1)).alias("rows"), F.sum(row_hash).alias("hash")).collect()[0]
    return Fingerprint(int(row["rows"]), str(row["hash"] or 0), df.schema.simpleString())


@dataclass
class ReplicaState:
    table: str
    source_version: int = -1
    replicated_version: int = -1
    versions_behind: int = 0
    seconds_behind: float = 0.0
    source_rows: int | None = None
    replica_rows: int | None = None
    content_equal: bool = False
    note: str = ""

    @property
    def matches(self) -> bool:
        return self.content_equal or self.note == "not created yet"

    def as_metadata(self) -> dict[str, Any]:
        return {**self.__dict__, "seconds_behind": round(self.seconds_behind, 1)}


def compare_replica(
    spark: SparkSession, table: str, source: DeltaLocation, replica: DeltaLocation, replicated_version: int
) -> ReplicaState:
    """Compare the replica with the source at ``replicated_version``; lag is measured from the source's history."""
    state = ReplicaState(table, replicated_version=replicated_version)
    if not source.exists(spark):
        state.note = "not created yet" if not replica.exists(spark) else "source missing, replica present"
        return state
    history = source.delta_table(spark).history().select("version", F.col("timestamp").cast("long").alias("at"))
    state.source_version = int(history.agg(F.max("version")).collect()[0][0])
    if not replica.exists(spark) or replicated_version < 0:
        state.note = "not replicated yet"
        state.versions_behind = state.source_version + 1
        first = history.agg(F.min("at")).collect()[0][0]
        state.seconds_behind = max(0.0, time.time() - first)
        return state
    state.versions_behind = state.source_version - replicated_version
    if state.versions_behind > 0:
        # Exposure: the oldest source commit the replica does not have yet.
        oldest = history.where(F.col("version") == replicated_version + 1).collect()
        state.seconds_behind = max(0.0, time.time() - oldest[0]["at"]) if oldest else 0.0
    try:
        expected = fingerprint(source.read(spark, version=replicated_version))
    except Exception as error:
        state.note = f"source version {replicated_version} is not readable any more: {type(error).__name__}"
        return state
    try:
        actual = fingerprint(replica.read(spark))
    except Exception as error:
        state.note = f"the replica is not readable: {type(error).__name__}: {str(error)[:200]}"
        return state
    state.source_rows, state.replica_rows = expected.rows, actual.rows
    state.content_equal = expected == actual
    if not state.content_equal:
        state.note = "schema differs" if expected.schema != actual.schema else "rows differ"
    return state
