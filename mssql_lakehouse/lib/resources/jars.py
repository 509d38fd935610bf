"""The JVM jars local Spark needs, fetched once from Maven Central and cached.

The first start resolves the Maven coordinates with Spark's own resolver (Ivy)
into ``<cache>/ivy`` and writes a manifest of the resolved files. It does so in
a child process whose output (Ivy's report of every artifact and repository it
tried) goes to ``<cache>/resolve.log`` rather than the user's terminal. Every
later start passes those files as ``spark.jars``, so it needs no network and
skips resolution. Where Spark's resolver cannot reach the registry, the
machine's Maven client fetches the same coordinates into the same cache.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import pyspark
from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

MSSQL_JDBC = "com.microsoft.sqlserver:mssql-jdbc:13.2.1.jre11"
DUCKDB_JDBC = "org.duckdb:duckdb_jdbc:2.0.0.1"


def delta_coordinate() -> str:
    """The Delta artifact built for the installed pyspark (Delta 4.x names the Spark line)."""
    spark_line = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_line}_2.13:{metadata.version('delta-spark')}"


def local_coordinates() -> list[str]:
    return [delta_coordinate(), MSSQL_JDBC, DUCKDB_JDBC]


def _manifest_path(cache_dir: Path, coordinates: list[str]) -> Path:
    digest = hashlib.sha256(",".join(sorted(coordinates)).encode()).hexdigest()[:16]
    return cache_dir / f"manifest-{digest}.txt"


def cached_jars(cache_dir: Path, coordinates: list[str]) -> list[str] | None:
    """The cached jar files for these coordinates, or None if any is missing."""
    manifest = _manifest_path(cache_dir, coordinates)
    if not manifest.exists():
        return None
    jars = [line for line in manifest.read_text().splitlines() if line]
    if not jars or not all(Path(j).exists() for j in jars):
        return None
    return jars


def record_resolved_jars(cache_dir: Path, coordinates: list[str], spark_jars_conf: str) -> None:
    """Write the manifest from the ``spark.jars`` Spark resolved on its first start."""
    jars = [j.removeprefix("file://") for j in spark_jars_conf.split(",") if j]
    cache_dir.mkdir(parents=True, exist_ok=True)
    _manifest_path(cache_dir, coordinates).write_text("\n".join(jars) + "\n")


def resolve(cache_dir: Path, coordinates: list[str]) -> list[str]:
    """Fetch the coordinates into the cache and return their jar files (the network, once)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    log_path = cache_dir / "resolve.log"
    log.info("Resolving Spark jars %s into %s (first start only; Ivy's output: %s)", coordinates, cache_dir, log_path)
    with log_path.open("w") as out:
        child = subprocess.run(
            [sys.executable, "-m", __name__, str(cache_dir), *coordinates], stdout=out, stderr=subprocess.STDOUT
        )
    resolved = cached_jars(cache_dir, coordinates)
    if child.returncode == 0 and resolved:
        return resolved
    log.warning("Spark's resolver could not fetch the jars (see %s); trying the Maven client", log_path)
    return fetch_with_maven(cache_dir, coordinates)


def _resolve_with_spark(cache_dir: Path, coordinates: list[str]) -> None:
    """Start a throwaway local Spark that resolves the coordinates, and record what it resolved."""
    session = (
        SparkSession.builder.master("local[1]")
        .config("spark.jars.packages", ",".join(coordinates))
        .config("spark.jars.ivy", str(cache_dir / "ivy"))
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        record_resolved_jars(cache_dir, coordinates, session.sparkContext.getConf().get("spark.jars", ""))
    finally:
        session.stop()


def fetch_with_maven(cache_dir: Path, coordinates: list[str]) -> list[str]:
    """Fallback: resolve the coordinates and their runtime dependencies with ``mvn``.

    Spark and Scala artifacts are left out: the pyspark distribution ships them.
    """
    if shutil.which("mvn") is None:
        raise RuntimeError(
            "Spark could not resolve its jars and no Maven client ('mvn') is installed. "
            f"Install Maven or place the jars for {coordinates} in {cache_dir}."
        )
    deps = "".join(
        "<dependency><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version></dependency>".format(
            *c.split(":")
        )
        for c in coordinates
    )
    pom = (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>local</groupId><artifactId>lakehouse-jars</artifactId><version>1</version>"
        f"<dependencies>{deps}</dependencies></project>"
    )
    out_dir = cache_dir / "maven"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "pom.xml").write_text(pom)
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={out_dir}",
                "-DincludeScope=runtime",
                "-DexcludeGroupIds=org.apache.spark,org.scala-lang,org.scala-lang.modules",
            ],
            cwd=tmp,
            check=True,
        )
    jars = sorted(str(p) for p in out_dir.glob("*.jar"))
    cache_dir.mkdir(parents=True, exist_ok=True)
    _manifest_path(cache_dir, coordinates).write_text("\n".join(jars) + "\n")
    return jars


if __name__ == "__main__":
    _resolve_with_spark(Path(sys.argv[1]), sys.argv[2:])
