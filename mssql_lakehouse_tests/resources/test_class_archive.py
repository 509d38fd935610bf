"""Local Spark's JVM maps the classes of the class archive built for its class path, and a start with
an archive, or with one the JVM refuses, works as a start without one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mssql_lakehouse.lib.resources import class_archive, jars, spark
from mssql_lakehouse.settings import PathsSettings

# A fresh process (one Spark session per process) that starts local Spark as a run does, logs where
# each class came from, and writes and reads a Delta table.
START = """
import json, sys
from pathlib import Path
from mssql_lakehouse.lib.resources import spark
from mssql_lakehouse.settings import PathsSettings

paths = PathsSettings(jar_cache_dir=Path(sys.argv[1]), home=Path(sys.argv[2]))
conf = spark.local_spark_conf(paths)
conf["spark.driver.extraJavaOptions"] += f" -Xlog:class+load=info:file={sys.argv[3]}"
session = spark.start_session(conf)
table = str(paths.home / "table")
session.range(5).write.format("delta").save(table)
print(json.dumps(sorted(row.id for row in session.read.format("delta").load(table).collect())))
"""

# How the JVM's class-loading log names a class mapped from the archive on top of the JDK's own.
FROM_ARCHIVE = "source: shared objects file (top)"


def _jar_cache(folder: Path) -> Path:
    """A jar cache of its own, over the project's jar files (its manifest names them)."""
    coordinates = jars.local_coordinates()
    cached = jars.cached_jars(PathsSettings().jar_cache_dir, coordinates)
    assert cached, "the test session's Spark fetched the jars"
    jars.record_resolved_jars(folder, coordinates, ",".join(cached))
    return folder


def _start(cache: Path, tmp_path: Path) -> tuple[list[int], str]:
    """What the started process read back, and its JVM's class-loading log."""
    log = tmp_path / "classes.log"
    done = subprocess.run(
        [sys.executable, "-c", START, str(cache), str(tmp_path / "home"), str(log)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cds" not in done.stdout + done.stderr, "a refused archive is not worth a message"
    return json.loads(done.stdout.strip().splitlines()[-1]), log.read_text()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> PathsSettings:
    paths = PathsSettings(
        jar_cache_dir=_jar_cache(tmp_path_factory.mktemp("jars")), home=tmp_path_factory.mktemp("home")
    )
    class_archive.build(paths)
    return paths


def test_the_next_start_maps_the_classes_of_the_built_archive(built: PathsSettings, tmp_path: Path):
    read, classes = _start(built.jar_cache_dir, tmp_path)

    assert read == [0, 1, 2, 3, 4]
    mapped = [line for line in classes.splitlines() if FROM_ARCHIVE in line]
    assert any(" org.apache.spark.sql.delta.DeltaLog " in line for line in mapped), classes[-2000:]
    assert len(mapped) > 10_000


def test_a_second_build_keeps_the_archive_it_finds(built: PathsSettings):
    archive = class_archive.archive_path(built)
    before = archive.stat()

    assert class_archive.build(built) == archive
    assert (archive.stat().st_ino, archive.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert list(archive.parent.glob("*.partial")) == []


def test_an_archive_the_jvm_refuses_leaves_a_start_as_without_one(tmp_path: Path):
    cache = _jar_cache(tmp_path / "jars")
    # Not an archive at all: what a JDK or jar changed under a kept archive amounts to for the JVM.
    class_archive.archive_path(PathsSettings(jar_cache_dir=cache)).write_bytes(b"not a class archive")

    read, classes = _start(cache, tmp_path)

    assert read == [0, 1, 2, 3, 4]
    assert FROM_ARCHIVE not in classes


def test_the_archive_is_named_for_its_class_path(tmp_path: Path):
    one = spark.class_archive_path(tmp_path, ["/jars/a.jar"])

    assert spark.class_archive_path(tmp_path, ["/jars/a.jar"]) == one
    assert spark.class_archive_path(tmp_path, ["/jars/a.jar", "/jars/b.jar"]) != one
    assert spark.class_archive_path(tmp_path, ["/other/a.jar"]) != one


def test_the_class_path_leaves_off_the_libraries_pyspark_ships():
    resolved = [
        "/cache/io.delta_delta-spark_4.2_2.13-4.4.0.jar",
        "/cache/com.fasterxml.jackson.core_jackson-databind-2.13.5.jar",
        "/cache/org.apache.parquet_parquet-hadoop-1.16.0.jar",
        "/cache/org.scala-lang.modules_scala-parallel-collections_2.13-1.2.0.jar",
        "/cache/org.duckdb_duckdb_jdbc-2.0.0.1.jar",
        # The Maven client's names: without the organisation.
        "/maven/zstd-jni-1.5.7-3.jar",
        "/maven/mssql-jdbc-13.2.1.jre11.jar",
    ]

    assert jars.driver_class_path(resolved) == [
        "/cache/io.delta_delta-spark_4.2_2.13-4.4.0.jar",
        "/cache/org.duckdb_duckdb_jdbc-2.0.0.1.jar",
        "/maven/mssql-jdbc-13.2.1.jre11.jar",
    ]
