"""Orphaned data files made the way production makes them: a Delta write that fails after writing files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from mssql_lakehouse_tests.replication.conftest import referenced_files, table_files

SCHEMA = "order_id BIGINT, day DATE, amount INT"


def orders(spark: SparkSession, ids: range, day: str, amount: int = 1) -> DataFrame:
    return spark.createDataFrame([(i, dt.date.fromisoformat(day), amount) for i in ids], SCHEMA)


def fail_a_replace_where(spark: SparkSession, table: Path, day: str) -> set[str]:
    """A ``replaceWhere`` of ``day`` whose last row lies outside it; returns the data files it leaves behind.

    Delta checks the predicate row by row as the tasks write: the tasks before the bad row
    write their files, the job then fails, and no commit references those files.
    """
    rows = spark.range(0, 40, numPartitions=4).select(
        F.col("id").alias("order_id"),
        F.when(F.col("id") == 39, F.lit(dt.date.fromisoformat(day) + dt.timedelta(days=1)))
        .otherwise(F.lit(dt.date.fromisoformat(day)))
        .alias("day"),
        F.lit(1).alias("amount"),
    )
    before = table_files(table)
    with pytest.raises(Exception, match="DELTA_REPLACE_WHERE_MISMATCH"):
        rows.write.format("delta").mode("overwrite").option("replaceWhere", f"day = '{day}'").save(str(table))
    orphans = {f for f in table_files(table) - before if f.endswith(".parquet")}
    assert orphans and not orphans & referenced_files(table), "the failed write left files no commit references"
    return orphans
