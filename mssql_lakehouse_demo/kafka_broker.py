"""A real single-node Apache Kafka (KRaft: broker and controller in one JVM), run from Kafka's own jars:
the broker the Kafka feed's tests and benchmark publish the demo's Debezium events to, and that
``mssql-lakehouse demo kafka-broker`` starts to try the feed on this machine.

The jars come from Maven Central once, into the project's jar cache, through ``lib/resources/jars.py``:
``kafka_broker.lock.json`` (next to this module) lists them with their SHA-256, and after a version change
``jars.write_lock(BROKER_COORDINATES, LOCK)`` rewrites it. Each broker lives in its own temp folder
(configuration, data, ``server.log``) on free loopback ports, and is gone, folder and all, after ``stop()``.
"""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

import pyspark

from mssql_lakehouse.lib.resources import jars
from mssql_lakehouse.settings import LakehouseSettings

KAFKA_VERSION = "4.4.0"
BROKER_COORDINATES = [
    f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
    # TopicCommand, the class behind kafka-topics.sh: topics are created and described with Kafka's own tool.
    f"org.apache.kafka:kafka-tools:{KAFKA_VERSION}",
    # Kafka logs through SLF4J and its artifacts bring no binding; this one routes SLF4J 2 (which Jetty pulls in)
    # to the log4j2 that kafka-server brings, so the broker's log says when it is ready.
    "org.apache.logging.log4j:log4j-slf4j2-impl:2.25.5",
]
LOCK = Path(__file__).with_name("kafka_broker.lock.json")
# KafkaRaftServer logs this once the broker is unfenced and serves clients.
READY_LINE = "Kafka Server started"


def broker_jars(cache_dir: Path | None = None) -> list[str]:
    """The classpath of the broker and its tools: the locked jars, fetched once, plus Scala's library.

    The locked jars are what Spark's resolver (Ivy) resolved, and that resolver drops ``scala-library`` from
    every resolution, since Spark brings its own. So Kafka's Scala code runs on the 2.13 library pyspark ships
    (2.13.18 with pyspark 4.2.0: the release Kafka 4.4.0 is built with).
    """
    cache_dir = cache_dir or LakehouseSettings.from_env().paths.jar_cache_dir / "kafka-broker"
    kafka_jars = (
        jars.cached_jars(cache_dir, BROKER_COORDINATES)
        or jars.fetch_locked(cache_dir, BROKER_COORDINATES, LOCK)
        or jars.resolve(cache_dir, BROKER_COORDINATES)
    )
    scala_library = sorted((Path(pyspark.__file__).parent / "jars").glob("scala-library-2.13.*.jar"))
    if not scala_library:
        raise RuntimeError(f"pyspark {pyspark.__version__} ships no Scala 2.13 library for Kafka {KAFKA_VERSION}")
    return [*kafka_jars, str(scala_library[-1])]


class KafkaBroker:
    """One KRaft broker-and-controller JVM on 127.0.0.1, started by ``start()`` and removed by ``stop()``.

    Use it as a context manager, or call the two yourself. ``bootstrap_servers`` is what clients connect to.
    ``cluster_id`` is the id its storage is formatted with: a random one, as Kafka makes, when not given.
    """

    def __init__(
        self, classpath: list[str] | None = None, start_timeout: float = 90.0, cluster_id: str | None = None
    ) -> None:
        self._classpath = ":".join(classpath or broker_jars())
        self._cluster_id = cluster_id
        self._start_timeout = start_timeout
        self._home: Path | None = None
        self._process: subprocess.Popen | None = None
        self.bootstrap_servers = ""
        self.started_in_seconds = 0.0

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def log(self) -> Path:
        """The broker JVM's output: log4j at INFO and anything the JVM itself prints."""
        if self._home is None:
            raise RuntimeError("The broker is not started")
        return self._home / "server.log"

    def start(self) -> None:
        """Format a fresh storage folder, launch the JVM and return once it serves clients.

        ``started_in_seconds`` is the wall time of this call: formatting included, as every new broker pays it.
        """
        launched = time.monotonic()
        self._home = Path(tempfile.mkdtemp(prefix="kafka-broker-"))
        try:
            port, controller_port = _free_ports(2)
            self.bootstrap_servers = f"127.0.0.1:{port}"
            config = self._home / "server.properties"
            config.write_text(_server_properties(port, controller_port, self._home / "data"))
            (self._home / "log4j2.properties").write_text(_log4j2_properties("INFO", "SYSTEM_OUT"))
            (self._home / "tools-log4j2.properties").write_text(_log4j2_properties("WARN", "SYSTEM_ERR"))
            # --standalone makes this node the whole (dynamic) controller quorum. The id is joined to its option:
            # a base64url id may begin with "-", and the tool's parser would take a separate one for an option.
            cluster_id = self._cluster_id or _cluster_id()
            self._tool(
                "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config), "--standalone"
            )
            with self.log.open("wb") as out:
                self._process = subprocess.Popen(
                    [
                        "java",
                        "-Xmx512m",
                        f"-Dlog4j2.configurationFile={self._home / 'log4j2.properties'}",
                        "-cp",
                        self._classpath,
                        "kafka.Kafka",
                        str(config),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            self._wait_until_ready(port, launched + self._start_timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in_seconds = time.monotonic() - launched

    def stop(self) -> None:
        """SIGTERM the JVM (a clean shutdown takes a few seconds), SIGKILL it if it lingers, delete its folder."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    def create_topic(self, name: str, partitions: int) -> None:
        """Create a topic with this many partitions, one replica each (there is one broker)."""
        self._topic_command("--create", "--topic", name, "--partitions", str(partitions), "--replication-factor", "1")

    def topics(self) -> dict[str, int]:
        """Every topic the broker's metadata names (internal ones left out) → its partition count."""
        described = self._topic_command("--describe", "--exclude-internal")
        # A topic's first line: "Topic: <name>\tTopicId: <id>\tPartitionCount: <n>\t...", then one line per partition.
        topics = {}
        for line in described.splitlines():
            fields = dict(field.split(": ", 1) for field in line.strip().split("\t") if ": " in field)
            if "PartitionCount" in fields:
                topics[fields["Topic"]] = int(fields["PartitionCount"])
        return topics

    def _topic_command(self, *arguments: str) -> str:
        return self._tool(
            "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", self.bootstrap_servers, *arguments
        )

    def _tool(self, main_class: str, *arguments: str) -> str:
        """Run one of Kafka's command-line tools in a short-lived JVM and return what it printed."""
        assert self._home is not None, "The broker is not started"
        command = [
            "java",
            "-Xmx256m",
            # A run of a few seconds: the JIT's top tier would not pay for itself.
            "-XX:TieredStopAtLevel=1",
            f"-Dlog4j2.configurationFile={self._home / 'tools-log4j2.properties'}",
            "-cp",
            self._classpath,
            main_class,
            *arguments,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(
                f"{main_class} {' '.join(arguments)} exited with {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def _wait_until_ready(self, port: int, deadline: float) -> None:
        """Return once the broker has logged that it started and its listener accepts connections."""
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"The Kafka broker exited with {self._process.returncode}:\n{self._log_tail()}")
            if READY_LINE in self.log.read_text(errors="replace") and _accepts_connections(port):
                return
            time.sleep(0.1)
        raise TimeoutError(
            f"The Kafka broker did not log '{READY_LINE}' within {self._start_timeout:.0f} s:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _server_properties(port: int, controller_port: int, data: Path) -> str:
    """A single-node KRaft configuration; every internal topic has one replica, as there is one broker."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data),
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": "3",
        "auto.create.topics.enable": "false",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _log4j2_properties(level: str, target: str) -> str:
    """A log4j2 configuration writing every logger at ``level`` to the JVM's stdout or stderr."""
    return (
        "appender.console.type = Console\n"
        "appender.console.name = console\n"
        f"appender.console.target = {target}\n"
        "appender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = [%d] %p %m (%c)%n\n"
        f"rootLogger.level = {level}\n"
        "rootLogger.appenderRef.console.ref = console\n"
    )


def _cluster_id() -> str:
    """A random cluster id as Kafka writes one (``kafka-storage.sh random-uuid``): 16 bytes in unpadded base64url."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def _free_ports(count: int) -> list[int]:
    """Distinct loopback ports free now (all held open together, so the system hands out different ones)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
