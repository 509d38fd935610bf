"""Compiled expressions for the writes of large inputs when the session interprets them.

The local default tuning (``small_data``, ``lib/resources/spark.py``) interprets expressions and
runs each operator on its own: on the small tables of the demo, the tests and a day of a small
source, compiling each query costs more than it saves. On large inputs it is the other way round
(``benchmarks/sales_nightly.py --parts backfill``, 90 days at scale 0.2 in one run, 1.8 million
order lines: 274 s interpreted, 157 s with Spark's own settings). So a write whose input is large
runs with Spark's code generation, whatever the session's tuning; any other query runs as the
session is set. Where the session compiles already (Spark's defaults, Databricks) nothing changes.

A write's input is large above :data:`COMPILE_ABOVE_ROWS` rows, if the asset says how many it
returns (output metadata ``output_rows``: a bronze asset counts its extraction, whose JDBC source
Spark cannot size), or above :data:`COMPILE_ABOVE_BYTES` of what its query reads by Spark's own
estimate (the files it scans after partition pruning, rows held in memory).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from pyspark.sql import DataFrame, SparkSession

from mssql_lakehouse.lib.io.delta_tables import session_conf

FACTORY_MODE = "spark.sql.codegen.factoryMode"
COMPILED = {FACTORY_MODE: "FALLBACK", "spark.sql.codegen.wholeStage": "true"}

COMPILE_ABOVE_ROWS = 50_000
COMPILE_ABOVE_BYTES = 4 * 2**20

# The plan leaves Spark sizes by what they hold: files (after partition pruning) and local rows.
SIZED_LEAVES = {"LogicalRelation", "LocalRelation"}
# Spark sizes what it cannot estimate at spark.sql.defaultSizeInBytes, by default the largest long.
UNKNOWN_SIZE = 2**62


def input_bytes(df: DataFrame) -> int | None:
    """Spark's estimate of the bytes ``df``'s query reads from files and memory: the sum of its plan's
    leaves' sizes, if every leaf is a read of files (after partition pruning) or of rows in memory.

    None where a leaf's size is not known: a JDBC read (Spark takes its default size, as large as a
    size can be), or a checkpointed or cached frame, which Spark sizes by the plan it came from (a
    join's estimate is the product of its sides', thousands of times what it holds), or where the
    plan cannot be inspected (Spark Connect has no JVM plan to ask).
    """
    try:
        leaves = df._jdf.queryExecution().optimizedPlan().collectLeaves()
        kinds = [leaves.apply(i).getClass().getSimpleName() for i in range(leaves.size())]
        if not set(kinds) <= SIZED_LEAVES:
            return None
        sizes = [int(str(leaves.apply(i).stats().sizeInBytes())) for i in range(leaves.size())]
    except AttributeError:
        return None
    return None if any(size >= UNKNOWN_SIZE for size in sizes) else sum(sizes)


def is_large(df: DataFrame, rows: int | None) -> bool:
    if rows is not None:
        return rows > COMPILE_ABOVE_ROWS
    size = input_bytes(df)
    return size is not None and size > COMPILE_ABOVE_BYTES


@contextmanager
def compiled_if_large(spark: SparkSession, df: DataFrame, rows: int | None = None) -> Iterator[bool]:
    """Run the block's queries with compiled expressions if the session interprets them and ``df``
    (``rows`` rows, if known) is large; yields whether the block's queries compile expressions
    (always, where the session does)."""
    if spark.conf.get(FACTORY_MODE, "FALLBACK") != "NO_CODEGEN":
        yield True
        return
    compiling = is_large(df, rows)
    with ExitStack() as stack:
        if compiling:
            for key, value in COMPILED.items():
                stack.enter_context(session_conf(spark, key, value))
        yield compiling
