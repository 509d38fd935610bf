"""Every secret handed to Spark stays out of py4j's DEBUG log, exceptions and Dagster's events.

py4j logs every command it sends to the JVM and every answer at DEBUG: an option value (a JDBC
password, the Event Hubs connection string in ``kafka.sasl.jaas.config``) and the driver text of a
failed job would be in those lines. A JDBC read fails at action time (a write, a collect), after
``.load()`` has returned, so its error passes through no code of the source layer.
"""

from __future__ import annotations

import logging
import secrets
import traceback
from collections.abc import Iterator

import dagster as dg
import duckdb
import pytest
from pyspark.logger import PySparkLogger
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.lib.sources.connection import ConnectionSettings
from mssql_lakehouse.lib.sources.dialects import DemoDialect
from mssql_lakehouse.lib.sources.extract import ReadSettings, read_jdbc
from mssql_lakehouse.lib.transforms.debezium import DebeziumSource, event_stream


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(logging.Formatter().format(record))  # with the exception logged, if any


@pytest.fixture
def spark_log() -> Iterator[_Records]:
    """py4j's DEBUG log on, and every record of it and of PySpark's error log (which does not
    propagate to caplog) kept."""
    handler = _Records()
    loggers = [logging.getLogger("py4j")] + [
        PySparkLogger.getLogger(name) for name in ("DataFrameQueryContextLogger", "SQLQueryContextLogger")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
    loggers[0].setLevel(logging.DEBUG)
    yield handler
    for logger, level in zip(loggers, levels, strict=False):
        logger.removeHandler(handler)
        logger.setLevel(level)


def _text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def _spark_console_lines(spark, error_text: str) -> list[str]:
    """What Spark's own log (log4j2, the driver's console) prints for an executor error with this text."""
    jvm = spark.sparkContext._jvm
    log4j = jvm.org.apache.logging.log4j
    event = (
        log4j.core.impl.Log4jLogEvent.newBuilder()
        .setLoggerName("org.apache.spark.executor.Executor")
        .setLevel(log4j.Level.ERROR)
        .setMessage(log4j.message.SimpleMessage("Exception in task 0.0 in stage 0.0 (TID 0)"))
        .setThrown(jvm.java.sql.SQLException(error_text))
        .build()
    )
    config = log4j.LogManager.getContext(False).getConfiguration()
    return [appender.getLayout().toSerializable(event) for appender in config.getRootLogger().getAppenders().values()]


def test_the_event_hubs_connection_string_stays_out_of_the_logs(spark, tmp_path, caplog, spark_log):
    caplog.set_level(logging.DEBUG)
    key = secrets.token_urlsafe(24)
    connection_string = f"Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey={key}"
    source = DebeziumSource(
        kind="eventhubs",
        bootstrap_servers="ns1.servicebus.windows.net:9093",
        topic="erp",
        raw_table=str(tmp_path / "raw"),
        checkpoint=str(tmp_path / "cp"),
        secret=connection_string,
    )
    failures = []
    try:
        event_stream(spark, source)
    except Exception as exc:  # locally the Kafka connector is not on the classpath: `.load()` fails
        failures.append(_text(exc))

    assert any("kafka.sasl.jaas.config" in m for m in spark_log.messages), "py4j did not log the options it sent"
    for text in (*spark_log.messages, caplog.text, *failures):
        assert key not in text


def test_a_jdbc_read_failing_at_action_time_reports_no_secret(spark, tmp_path, caplog, spark_log):
    caplog.set_level(logging.DEBUG)
    password = f"{secrets.token_hex(6)};x}}y-{secrets.token_hex(4)}"
    demo_path = str(tmp_path / "erp.duckdb")
    with duckdb.connect(demo_path) as db:
        # A value equal to the password, so the error of the failing action quotes it, as driver text
        # can (the demo's DuckDB driver streams results and reports its own errors only as
        # "Invalid result set").
        db.execute("CREATE TABLE t (v VARCHAR)")
        db.execute("INSERT INTO t VALUES (?)", [password])
    dialect = DemoDialect(ConnectionSettings(engine="demo", database="erp", demo_path=demo_path, password=password))
    target = str(tmp_path / "landed")

    def as_numbers() -> DataFrame:
        # `.load()` only reads the schema and succeeds; the action fails on the row.
        return read_jdbc(spark, dialect, "SELECT v FROM t", None, ReadSettings()).select(F.col("v").cast("int"))

    failures = []
    for action in (lambda: as_numbers().write.format("delta").save(target), lambda: as_numbers().collect()):
        with pytest.raises(Exception) as failure:
            action()
        failures.append(_text(failure.value))

    @dg.asset
    def landed() -> None:
        as_numbers().write.format("delta").save(target)

    result = dg.materialize([landed], raise_on_error=False)

    assert not result.success
    events = "\n".join(str(e) for e in result.all_events)
    assert all("CAST_INVALID_INPUT" in text for text in (*failures, events)), "the reason is kept"
    assert any("CAST_INVALID_INPUT" in m for m in spark_log.messages), "py4j did not log the JVM's answer"
    console = _spark_console_lines(spark, f"Conversion Error: Could not convert string '{password}' to INT32")
    assert console and all("Conversion Error" in line for line in console)
    for text in (*failures, events, caplog.text, *spark_log.messages, *console):
        assert password not in text
