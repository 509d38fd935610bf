"""Compiled expressions for the queries of large inputs when the session interprets them.

The local default tuning (``small_data``, ``lib/resources/spark.py``) interprets expressions and
runs each operator on its own: on the small tables of the demo, the tests and a day of a small
source, compiling each query costs more than it saves. On large inputs it is the other way round
(``benchmarks/sales_nightly.py --parts backfill``, 90 days at scale 0.2 in one run, 1.8 million
order lines: 274 s interpreted, 157 s with Spark's own settings). So a query that materializes a
large input (the IO manager's write, an asset's checkpoint, a bronze extraction's landing) runs
with Spark's code generation, whatever the session's tuning; any other query runs as the session
is set. Where the session compiles already (Spark's defaults, Databricks) nothing changes.

An input is large above :data:`COMPILE_ABOVE_ROWS` rows where they were counted (an extraction's
source count, or an asset's output metadata ``output_rows``: Spark cannot size a JDBC read), or
else above :data:`COMPILE_ABOVE_BYTES` of what its query reads (:func:`input_bytes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from py4j.protocol import Py4JError
from pyspark.sql import DataFrame, SparkSession

from mssql_lakehouse.lib.io.delta_tables import session_conf

FACTORY_MODE = "spark.sql.codegen.factoryMode"
COMPILED = {FACTORY_MODE: "FALLBACK", "spark.sql.codegen.wholeStage": "true"}

COMPILE_ABOVE_ROWS = 50_000
COMPILE_ABOVE_BYTES = 4 * 2**20

# Plan leaves Spark sizes by what they hold: files (after partition pruning) and local rows.
SIZED_LEAVES = {"LogicalRelation", "LocalRelation"}
# A checkpointed frame's leaf (logical, physical): its rows are blocks of an RDD, sized by the block manager.
RDD_LEAVES = {"LogicalRDD", "RDDScanExec"}
# Rows held as objects take several times their Parquet files' bytes: a checkpoint of the silver
# order lines took 4.4 times the bytes of their files, of the silver orders 3.9 times (90 days at
# scale 0.2, and one of those days).
STORED_BYTES_PER_FILE_BYTE = 4
# Spark sizes what it cannot estimate at spark.sql.defaultSizeInBytes, by default the largest long.
UNKNOWN_SIZE = 2**62


class _Unsized(Exception):
    """A plan leaf whose size is not known."""


def _stored_bytes(spark: SparkSession) -> dict[int, int]:
    """Bytes each persisted RDD's blocks take in memory and on disk, by RDD id."""
    infos = spark.sparkContext._jsc.sc().getRDDStorageInfo()
    return {info.id(): info.memSize() + info.diskSize() for info in infos}


def _plan_bytes(plan, stored: dict[int, int]) -> int:
    """The sum of the sizes of a logical or physical plan's leaves; raises :class:`_Unsized`."""
    leaves = plan.collectLeaves()
    return sum(_leaf_bytes(leaves.apply(i), stored) for i in range(leaves.size()))


def _leaf_bytes(leaf, stored: dict[int, int]) -> int:
    kind = leaf.getClass().getSimpleName()
    if kind in SIZED_LEAVES:
        size = int(str(leaf.stats().sizeInBytes()))
    elif kind == "FileSourceScanExec":  # a file read inside a cached frame's plan
        size = int(str(leaf.relation().sizeInBytes()))
    elif kind in RDD_LEAVES:
        rdd = leaf.rdd().id()
        if rdd not in stored:  # rows from Python, or a checkpoint no longer held
            raise _Unsized(kind)
        size = stored[rdd] // STORED_BYTES_PER_FILE_BYTE
    elif kind == "InMemoryRelation":  # a cached frame, sized by what its plan reads
        size = _plan_bytes(leaf.cacheBuilder().cachedPlan(), stored)
    elif kind == "InMemoryTableScanExec":
        size = _plan_bytes(leaf.relation().cacheBuilder().cachedPlan(), stored)
    else:
        raise _Unsized(kind)
    if size >= UNKNOWN_SIZE:
        raise _Unsized(kind)
    return size


def input_bytes(df: DataFrame) -> int | None:
    """The bytes ``df``'s query reads from files and memory: the sum of its plan's leaves' sizes, if
    every leaf is a read of files (Spark's estimate after partition pruning), of local rows, of a
    checkpoint (its stored bytes, counted as :data:`STORED_BYTES_PER_FILE_BYTE` to a file byte) or
    of a cached frame (what the cached plan's leaves read, whether or not it is cached yet).

    None where a leaf's size is not known: a JDBC read (Spark takes its default size, as large as a
    size can be), rows from Python that are not stored, or where the plan cannot be inspected
    (Spark Connect has no JVM plan to ask). Spark's own estimate of a plan is not used: it sizes a
    join at the product of its sides, and a checkpointed or cached frame by the plan it came from.
    """
    try:
        plan = df._jdf.queryExecution().optimizedPlan()
        return _plan_bytes(plan, _stored_bytes(df.sparkSession))
    except (_Unsized, AttributeError, Py4JError):
        return None


def is_large(df: DataFrame, rows: int | None, reads: Callable[[], DataFrame] | None = None) -> bool:
    """Whether ``df`` (``rows`` rows, if counted), or the other rows the block reads, are large."""
    if reads is not None and (input_bytes(reads()) or 0) > COMPILE_ABOVE_BYTES:
        return True
    if rows is not None:
        return rows > COMPILE_ABOVE_ROWS
    size = input_bytes(df)
    return size is not None and size > COMPILE_ABOVE_BYTES


@contextmanager
def compiled_if_large(
    spark: SparkSession, df: DataFrame, rows: int | None = None, reads: Callable[[], DataFrame] | None = None
) -> Iterator[bool]:
    """Run the block's queries with compiled expressions if the session interprets them and ``df``
    (``rows`` rows, if known) or what else the block reads (``reads()``: a MERGE's target, built
    only if the session interprets) is large; yields whether the block's queries compile
    expressions (always, where the session does)."""
    if spark.conf.get(FACTORY_MODE, "FALLBACK") != "NO_CODEGEN":
        yield True
        return
    compiling = is_large(df, rows, reads)
    with ExitStack() as stack:
        if compiling:
            for key, value in COMPILED.items():
                stack.enter_context(session_conf(spark, key, value))
        yield compiling


def local_checkpoint(df: DataFrame) -> DataFrame:
    """``df.localCheckpoint()``, computed with compiled expressions if ``df``'s input is large, as
    the IO manager's writes are."""
    with compiled_if_large(df.sparkSession, df):
        return df.localCheckpoint()
