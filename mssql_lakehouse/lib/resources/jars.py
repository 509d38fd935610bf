"""The JVM jars local Spark needs, fetched once from Maven Central and cached.

The project's coordinates are resolved ahead of time: ``jars.lock.json`` (next
to this module) lists the files Spark's resolver (Ivy) resolved for them, with
each file's SHA-256. The first start downloads those files straight into
``<cache>/locked``, checks them and writes a manifest of them; every later
start puts the manifest's files on the driver's class path (``driver_class_path``),
so it needs no network and skips resolution. ``python -m
mssql_lakehouse.lib.resources.jars lock`` (``make lock-jars``) rewrites the lock
after a version change.

Where the lock does not name the coordinates asked for, or a download fails,
the first start resolves them with Ivy into ``<cache>/ivy``, in a child process
whose output (Ivy's report of every artifact and repository it tried) goes to
``<cache>/resolve.log`` rather than the user's terminal. Where Spark's resolver
cannot reach the registry, the machine's Maven client fetches the same
coordinates into the same cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import pyspark
from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

MSSQL_JDBC = "com.microsoft.sqlserver:mssql-jdbc:13.2.1.jre11"
DUCKDB_JDBC = "org.duckdb:duckdb_jdbc:2.0.0.1"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2/"
LOCK = Path(__file__).with_name("jars.lock.json")
# This module's name also when it runs as ``python -m`` (``__name__`` is then ``__main__``).
_MODULE = __spec__.name


def delta_coordinate() -> str:
    """The Delta artifact built for the installed pyspark (Delta 4.x names the Spark line)."""
    spark_line = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_line}_2.13:{metadata.version('delta-spark')}"


def kafka_coordinate() -> str:
    """Spark's Kafka source and sink, of the installed pyspark's release (the Debezium stream's reader)."""
    return f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}"


def local_coordinates() -> list[str]:
    return [delta_coordinate(), kafka_coordinate(), MSSQL_JDBC, DUCKDB_JDBC]


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


# A jar's artifact name: its file name without the version (``zstd-jni-1.5.7-3.jar`` -> ``zstd-jni``).
_VERSION = re.compile(r"-\d[^-]*(?:-\d+)?\.jar$")


def driver_class_path(jars: list[str]) -> list[str]:
    """The jars to put on local Spark's class path: all but the artifacts pyspark ships itself.

    Resolution brings older versions of some of Spark's own libraries (Jackson, Parquet, Hadoop's
    client) as dependencies of Delta's. Passed as ``spark.jars`` they were loaded by a class loader
    that asks Spark's first, so Spark's versions won; on the class path they would come first, so
    they are left off it.
    """
    shipped = {_VERSION.sub("", jar.name) for jar in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}

    def is_shipped(jar: str) -> bool:
        # Ivy and the lock name a jar ``<organisation>_<artifact>-<version>.jar``, Maven ``<artifact>-<version>.jar``.
        name = _VERSION.sub("", Path(jar).name)
        return name in shipped or name.split("_", 1)[-1] in shipped

    return [jar for jar in jars if not is_shipped(jar)]


def record_resolved_jars(cache_dir: Path, coordinates: list[str], spark_jars_conf: str) -> None:
    """Write the manifest from the ``spark.jars`` Spark resolved on its first start."""
    jars = [j.removeprefix("file://") for j in spark_jars_conf.split(",") if j]
    _write_manifest(cache_dir, coordinates, jars)


def _write_manifest(cache_dir: Path, coordinates: list[str], jars: list[str]) -> None:
    """Write the manifest whole or not at all: a start racing this one reads either none or all."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    manifest = _manifest_path(cache_dir, coordinates)
    partial = manifest.with_name(f"{manifest.name}.{os.getpid()}.partial")
    partial.write_text("\n".join(jars) + "\n")
    partial.replace(manifest)


def fetch(cache_dir: Path, coordinates: list[str]) -> list[str]:
    """Fetch the coordinates' jars into the cache and return them (the network, once).

    The locked files if the lock names these coordinates, else what Ivy resolves.
    """
    return fetch_locked(cache_dir, coordinates) or resolve(cache_dir, coordinates)


def fetch_locked(cache_dir: Path, coordinates: list[str], lock: Path = LOCK) -> list[str] | None:
    """Download the lock's files for these coordinates and check their digests; None if the lock
    is for other coordinates or a file could not be fetched whole."""
    locked = json.loads(lock.read_text())
    if sorted(locked["coordinates"]) != sorted(coordinates):
        return None
    folder = cache_dir / "locked"
    folder.mkdir(parents=True, exist_ok=True)
    log.info("Fetching %d Spark jars for %s into %s (first start only)", len(locked["jars"]), coordinates, folder)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            jars = list(pool.map(lambda jar: _download(locked["repository"], jar, folder), locked["jars"]))
    except (OSError, ValueError) as error:
        log.warning("Could not fetch the locked jars (%s); resolving them with Spark's resolver", error)
        return None
    _write_manifest(cache_dir, coordinates, jars)
    return jars


def _download(repository: str, jar: dict[str, str], folder: Path) -> str:
    target = folder / jar["file"]
    if target.exists() and _sha256(target) == jar["sha256"]:
        return str(target)
    partial = folder / f"{jar['file']}.{os.getpid()}.partial"
    try:
        with urllib.request.urlopen(repository + jar["path"], timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        if _sha256(partial) != jar["sha256"]:
            raise ValueError(f"{repository}{jar['path']} does not have the locked SHA-256")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return str(target)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_lock(coordinates: list[str], lock: Path = LOCK) -> None:
    """Resolve the coordinates with Ivy from Maven Central into an empty cache and lock its files."""
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(tmp)
        subprocess.run([sys.executable, "-m", _MODULE, "resolve", str(cache_dir), *coordinates], check=True)
        resolved = cached_jars(cache_dir, coordinates)
        if not resolved:
            raise RuntimeError(f"Spark's resolver resolved nothing for {coordinates}")
        origins = _ivy_origins(cache_dir / "ivy" / "cache")
        entries = []
        # Spark's resolved list can name a jar twice (two dependencies on it).
        for jar in map(Path, dict.fromkeys(resolved)):
            url = origins.get(jar.name)
            if url is None or not url.startswith(MAVEN_CENTRAL):
                raise RuntimeError(f"{jar.name} did not come from Maven Central ({url}); lock on a clean machine")
            entries.append({"file": jar.name, "path": url.removeprefix(MAVEN_CENTRAL), "sha256": _sha256(jar)})
    document = {"coordinates": sorted(coordinates), "repository": MAVEN_CENTRAL, "jars": entries}
    lock.write_text(json.dumps(document, indent=2) + "\n")


def _ivy_origins(ivy_cache: Path) -> dict[str, str]:
    """Each resolved jar's name as Ivy retrieves it (``<organisation>_<file>``) → the URL it came from."""
    origins = {}
    for data in ivy_cache.glob("*/*/ivydata-*.properties"):
        organisation = data.parent.parent.name
        for url in re.findall(r"\.location=(\S+\.jar)$", data.read_text(), re.MULTILINE):
            url = url.replace("\\:", ":")
            origins[f"{organisation}_{url.rsplit('/', 1)[1]}"] = url
    return origins


def resolve(cache_dir: Path, coordinates: list[str]) -> list[str]:
    """Fetch the coordinates into the cache and return their jar files (the network, once)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    log_path = cache_dir / "resolve.log"
    log.info("Resolving Spark jars %s into %s (first start only; Ivy's output: %s)", coordinates, cache_dir, log_path)
    with log_path.open("w") as out:
        child = subprocess.run(
            [sys.executable, "-m", _MODULE, "resolve", str(cache_dir), *coordinates],
            stdout=out,
            stderr=subprocess.STDOUT,
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
    _write_manifest(cache_dir, coordinates, jars)
    return jars


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["resolve", cache, *wanted]:
            _resolve_with_spark(Path(cache), wanted)
        case ["lock"]:
            coordinates = local_coordinates()
            write_lock(coordinates)
            print(f"Locked the jars of {coordinates} in {LOCK}")
        case _:
            sys.exit("usage: python -m mssql_lakehouse.lib.resources.jars lock | resolve <cache> <coordinate>...")
