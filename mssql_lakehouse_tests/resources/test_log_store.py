"""Local Spark's Delta log store: each version of a table's log is committed by one writer only.

Two Dagster runs writing one local table are two processes, each with its own JVM and log store.
Here two processes, each with the project's local Spark, commit the same versions at the same
instants through the store Delta uses for ``file:`` paths.
"""

import multiprocessing
from functools import reduce
from pathlib import Path

import pytest
from py4j.protocol import Py4JJavaError

from mssql_lakehouse.lib.resources import log_store
from mssql_lakehouse.lib.resources.spark import local_spark_session
from mssql_lakehouse.lib.sources.redaction import RedactedSparkError

DELTA_DEFAULT_STORE = "io.delta.storage.HDFSLogStore"
VERSIONS = 400
WRITERS = ("a", "b")


def new_store(spark):
    """A log store as Delta makes one for ``file:`` paths in this session."""
    name = spark.conf.get("spark.delta.logStore.file.impl", DELTA_DEFAULT_STORE)
    return reduce(getattr, name.split("."), spark._jvm)(spark._jsc.hadoopConfiguration())


def version_file(log: Path, version: int) -> Path:
    return log / f"{version:020d}.json"


def commit(spark, store, path: Path, line: str) -> bool:
    """Write the commit file ``path`` without overwrite; False if the store refused (it exists)."""
    jvm = spark._jvm
    actions = jvm.java.util.ArrayList()
    actions.add(line)
    try:
        store.write(
            jvm.org.apache.hadoop.fs.Path(path.as_uri()), actions.iterator(), False, spark._jsc.hadoopConfiguration()
        )
    # A Py4JJavaError, or the project's masked copy of one if its text holds a secret registered in
    # this process (a test's short fake secret can match part of the file's random name).
    except (Py4JJavaError, RedactedSparkError) as error:
        if "java.nio.file.FileAlreadyExistsException" not in str(error):
            raise
        return False
    return True


def writer(name: str, log: Path, start, results) -> None:
    """One process's commits: each version as soon as the other process is ready to commit it too."""
    spark = local_spark_session(master="local[1]", driver_memory="512m", shuffle_partitions=1)
    store = new_store(spark)
    won = []
    for version in range(VERSIONS):
        start.wait()
        won.append(commit(spark, store, version_file(log, version), f'{{"writer":"{name}"}}'))
    results.put((name, won))


def test_a_commit_file_that_exists_is_never_replaced(spark, tmp_path):
    log = tmp_path / "_delta_log"
    log.mkdir()
    first = version_file(log, 0)
    assert commit(spark, new_store(spark), first, '{"writer":"first"}')

    assert not commit(spark, new_store(spark), first, '{"writer":"second"}')

    assert first.read_text() == '{"writer":"first"}\n'
    assert not [p.name for p in log.iterdir() if p.name.endswith(".tmp")]


def test_two_processes_committing_the_same_versions_at_once_commit_each_version_once(tmp_path):
    log = tmp_path / "_delta_log"
    log.mkdir()
    context = multiprocessing.get_context("spawn")
    # The first wait also waits for both JVMs to start; a writer that dies breaks it for the other.
    start = context.Barrier(len(WRITERS), timeout=180)
    results = context.Queue()
    processes = [context.Process(target=writer, args=(name, log, start, results)) for name in WRITERS]
    for process in processes:
        process.start()
    won = dict(results.get(timeout=600) for _ in WRITERS)
    for process in processes:
        process.join()

    claimed_twice = [v for v in range(VERSIONS) if won["a"][v] and won["b"][v]]
    assert claimed_twice == []
    # Each version's file is the one its winner wrote.
    winners = ["a" if won["a"][v] else "b" for v in range(VERSIONS)]
    assert [version_file(log, v).read_text() for v in range(VERSIONS)] == [f'{{"writer":"{w}"}}\n' for w in winners]


def test_without_a_jdk_the_first_start_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="no javac is on PATH: install a JDK 17"):
        log_store.log_store_jar(tmp_path / "jars", [])
