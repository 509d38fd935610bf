"""Helpers to inspect Delta tables on both sites, and the inventory lakehouse factory for failover runs."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from mssql_lakehouse.lib.replication.delta_log import ReferencedFiles, list_log, read_json_actions
from mssql_lakehouse_tests.inventory.conftest import make_lakehouse  # noqa: F401 - the fixture is reused


def table_files(table: Path) -> set[str]:
    """Every file under a table folder except its log, relative to the table."""
    return {
        str(p.relative_to(table))
        for p in table.rglob("*")
        if p.is_file() and "_delta_log" not in p.parts and not p.name.startswith(".")
    }


def referenced_files(table: Path) -> set[str]:
    """The files the table's commits add (data, change data, deletion vectors) that exist."""
    log, referenced = list_log(table), ReferencedFiles()
    for version in sorted(log.commits):
        referenced.collect(read_json_actions(log.commits[version]))
    return {f for f in referenced.added if (table / f).exists()}


def rows(spark: SparkSession, table: Path, *, version: int | None = None, drop: tuple[str, ...] = ()) -> list[tuple]:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    df: DataFrame = reader.load(str(table))
    df = df.drop(*[c for c in drop if c in df.columns])
    return sorted((tuple(r) for r in df.collect()), key=repr)


def history(spark: SparkSession, table: Path) -> list[tuple]:
    return [
        (r["version"], r["operation"])
        for r in spark.sql(f"DESCRIBE HISTORY delta.`{table}`").orderBy("version").collect()
    ]
