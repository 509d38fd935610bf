"""The Spark session: local Spark with Delta on a laptop, the cluster's own on Databricks.

There is one Spark session per process. Locally the JVM is started with the
Delta extensions and the JDBC drivers from the project's jar cache on its class
path, and maps the classes of the class archive (``class_archive.py``) where
one was built for that class path; on a Databricks cluster (the remote side of
the step launcher) the session the runtime already has is used as it is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import threading
from importlib import resources
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field
from pyspark.sql import SparkSession

from mssql_lakehouse.lib.resources import jars, log_store
from mssql_lakehouse.settings import LakehouseSettings, PathsSettings

_lock = threading.Lock()

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

# The "small_data" tuning (LAKEHOUSE_SPARK_TUNING), the local default. Local runs are mostly small (the
# demo, tests, a developer's day of data): there, compiling each query and expression to Java and
# re-planning queries as their stages finish cost more than they save, and the JIT compiler spends a
# core on the classes Spark generates. Measured on the sales nightly run of one day at scale 0.05
# (benchmarks/step_profile.py): 63 s of steps with Spark's defaults, 44 s with these; one Customer 360
# test took 158 s with the defaults, 166 s with code generation off alone and 102 s with both off; the
# test suite 99 min with the defaults and 56 min with these. On real volumes it is the other way round:
# extracting a million order lines took 24.6 s with these and 5.6 s with Spark's defaults
# (benchmarks/extraction_peers.py, warm JVM), hence the "spark_defaults" tuning.
SMALL_DATA_CONF = {
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}


Tuning = Literal["small_data", "spark_defaults"]

LOG4J_CONF = Path(str(resources.files(__package__) / "log4j2-local.properties"))


def _local_conf(
    master: str, driver_memory: str, shuffle_partitions: int, home: Path, tuning: Tuning, java_options: list[str]
) -> dict[str, str]:
    return {
        **DELTA_CONF,
        "spark.master": master,
        "spark.app.name": "mssql_lakehouse",
        "spark.driver.memory": driver_memory,
        # Local runs bind to loopback only; there is no cluster to talk to.
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.default.parallelism": str(shuffle_partitions),
        # SQL Server datetime2 has no time zone: read and write wall-clock values untouched.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": str(home / "spark-warehouse"),
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
        # Warnings and errors only, without Spark's start-up notices (see the file).
        "spark.driver.extraJavaOptions": " ".join([f"-Dlog4j2.configurationFile={LOG4J_CONF.as_uri()}", *java_options]),
        # Python workers (UDFs) run the driver's interpreter, with its packages, not whatever python3
        # is first on PATH.
        "spark.pyspark.python": sys.executable,
        **(SMALL_DATA_CONF if tuning == "small_data" else {}),
    }


def start_session(conf: dict[str, str]) -> SparkSession:
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    # PySpark started from Python (not spark-submit) takes the workers' interpreter from PYSPARK_PYTHON
    # only; the context's pythonExec is what every Python UDF is launched with, so set it from the conf.
    session.sparkContext.pythonExec = conf["spark.pyspark.python"]
    return session


def local_spark_session(
    master: str = "local[*]",
    driver_memory: str = "4g",
    shuffle_partitions: int = 4,
    extra_conf: dict[str, str] | None = None,
    paths: PathsSettings | None = None,
    tuning: Tuning = "small_data",
) -> SparkSession:
    """The process's local Spark session with Delta, started on first use (later callers get that
    one, whatever they ask for).

    ``paths`` (default: the default settings') gives the warehouse folder (under ``LAKEHOUSE_HOME``)
    and the jar cache (``LAKEHOUSE_JAR_CACHE``). ``extra_conf`` is applied last.
    """
    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        conf = local_spark_conf(paths or PathsSettings(), master, driver_memory, shuffle_partitions, tuning)
        return start_session({**conf, **(extra_conf or {})})


def local_spark_conf(
    paths: PathsSettings,
    master: str = "local[*]",
    driver_memory: str = "4g",
    shuffle_partitions: int = 4,
    tuning: Tuning = "small_data",
    java_options: list[str] | None = None,
) -> dict[str, str]:
    """The conf local Spark starts with; the jars are fetched into the cache if they are not there.

    The jars go on the driver's class path rather than in ``spark.jars``: Spark copies the files of
    ``spark.jars`` into a folder of each new session (175 MB, 1-2 s of every start), and only classes
    on the class path can be mapped from a class archive. ``java_options`` default to mapping the
    archive built for this class path, if there is one.
    """
    class_path = local_class_path(paths)
    if java_options is None:
        archive = class_archive_path(Path(paths.jar_cache_dir), class_path)
        java_options = [f"-XX:SharedArchiveFile={archive}", *ARCHIVE_QUIET] if archive.exists() else []
    return {
        **_local_conf(master, driver_memory, shuffle_partitions, paths.home, tuning, java_options),
        "spark.driver.extraClassPath": os.pathsep.join(class_path),
        # Delta picks a log store by the table path's scheme.
        "spark.delta.logStore.file.impl": log_store.CLASS_NAME,
    }


def local_class_path(paths: PathsSettings) -> list[str]:
    """The jars local Spark's driver starts with on its class path, fetched into the cache if not there."""
    cache = Path(paths.jar_cache_dir)
    coordinates = jars.local_coordinates()
    cached = jars.cached_jars(cache, coordinates) or jars.fetch(cache, coordinates)
    return jars.driver_class_path([*cached, log_store.log_store_jar(cache, cached)])


# A JVM refuses an archive of another class path or another JDK and starts without it: that is a
# slower start, not an error, and it prints nothing for it.
ARCHIVE_QUIET = ["-Xlog:cds=off", "-Xlog:cds+dynamic=off"]


def class_archive_path(cache_dir: Path, class_path: list[str]) -> Path:
    """Where the class archive for this class path and this machine's ``java`` is (or would be) kept.

    The name changes with the class path and with the java binary (its path and modification time,
    so a JDK upgraded in place gets a new archive); the JVM itself checks both when it maps the archive.
    """
    java = Path(shutil.which("java") or "java").resolve()
    digest = hashlib.sha256("\n".join([*class_path, str(java)]).encode())
    if java.exists():
        digest.update(str(java.stat().st_mtime_ns).encode())
    return cache_dir / f"classes-{digest.hexdigest()[:16]}.jsa"


class SparkResource(dg.ConfigurableResource):
    """Gives assets the process's Spark session.

    Locally it starts Spark with Delta; on a Databricks cluster it returns the
    runtime's session and ignores the local settings.
    """

    master: str = Field(default="local[*]", description="Spark master for local runs.")
    driver_memory: str = Field(default="4g", description="Driver memory for local runs.")
    shuffle_partitions: int = Field(
        default=4, description="spark.sql.shuffle.partitions for local runs (small data, few cores)."
    )
    tuning: Tuning = Field(
        default="small_data",
        description="small_data: code generation and adaptive execution off (small local runs);"
        " spark_defaults: Spark's own (local runs of real volumes).",
    )
    extra_conf: dict[str, str] = Field(default_factory=dict, description="More Spark settings, applied last.")
    home: str | None = Field(default=None, description="LAKEHOUSE_HOME: the local warehouse folder is under it.")
    jar_cache_dir: str | None = Field(default=None, description="LAKEHOUSE_JAR_CACHE: the JVM jars local Spark needs.")
    on_databricks: bool = Field(default=False, description="Running on a Databricks cluster: use its session.")

    @classmethod
    def from_settings(cls, settings: LakehouseSettings) -> SparkResource:
        paths, local = settings.paths, settings.local_spark
        return cls(
            master=local.master,
            driver_memory=local.driver_memory,
            tuning=local.tuning,
            extra_conf=local.conf,
            home=str(paths.home),
            jar_cache_dir=str(paths.jar_cache_dir),
            on_databricks=paths.on_databricks,
        )

    def get_session(self) -> SparkSession:
        if self.on_databricks:
            return SparkSession.builder.getOrCreate()
        given = {"home": self.home, "jar_cache_dir": self.jar_cache_dir}
        paths = PathsSettings(**{name: Path(value) for name, value in given.items() if value})
        return local_spark_session(
            self.master, self.driver_memory, self.shuffle_partitions, self.extra_conf, paths, self.tuning
        )
