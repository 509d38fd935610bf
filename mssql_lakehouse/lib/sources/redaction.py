"""Keeping secrets out of reprs, log lines, exception messages and metadata.

Secrets (passwords, client secrets, the Event Hubs connection string) only ever
live in resource fields and in the options handed to Spark or a driver. Code
that puts a secret into a Spark option calls :func:`register_spark_secrets`
first; from then on the secret is masked

* in py4j's DEBUG log, which records every option sent to the JVM and every
  answer (driver text included), in PySpark's own error log, and in the driver
  JVM's console log (where Spark logs a failed task with its error);
* in every error a Spark call raises, whenever it raises: a JDBC read fails when
  an action runs (a write, a count), long after ``.load()`` returned.

Messages built from driver text outside Spark (control connections) go through
:func:`redact`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import py4j.java_gateway
from py4j.protocol import escape_new_line
from pyspark import SparkContext
from pyspark.logger import PySparkLogger

MASK = "***"

# Every secret registered in this process, as given and as py4j escapes it in its log lines.
_SECRETS: set[str] = set()


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of every (non-empty) secret replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class RedactedSparkError(RuntimeError):
    """A Spark call failed with a message holding a registered secret: that message, masked.

    The original error is dropped rather than chained: its JVM side would print the secret again.
    """


# py4j logs each command and answer at DEBUG. A filter on a logger applies to the records created
# on it, so each of py4j's loggers gets one.
_PY4J_LOGGERS = ("py4j", "py4j.clientserver", "py4j.java_gateway", "py4j.protocol")
# PySpark logs an error's message with its query context on these loggers (which do not propagate;
# they must be PySparkLoggers, which take keyword context).
_PYSPARK_LOGGERS = ("DataFrameQueryContextLogger", "SQLQueryContextLogger")


class _SecretFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            message = record.getMessage()
            redacted = redact(message, _SECRETS)
            if redacted != message:
                record.msg, record.args = redacted, None
            if record.exc_info:
                # PySpark logs the Java error it is converting; its text is the driver's.
                trace = logging.Formatter().formatException(record.exc_info)
                redacted = redact(trace, _SECRETS)
                if redacted != trace:
                    record.exc_info, record.exc_text = None, redacted
        return True


_FILTER = _SecretFilter()


def _redacting(get_return_value: Callable[..., Any]) -> Callable[..., Any]:
    def redacted_get_return_value(*args: Any, **kwargs: Any) -> Any:
        try:
            return get_return_value(*args, **kwargs)
        except Exception as exc:
            text = str(exc)
            clean = redact(text, _SECRETS)
            if clean == text:
                raise
            kind = type(exc).__name__
        # Raised outside the except block, so the original is not attached as its context.
        raise RedactedSparkError(f"{kind}: {clean}")

    redacted_get_return_value.redacts_secrets = True  # type: ignore[attr-defined]
    return redacted_get_return_value


# The driver JVM and secrets whose console log already masks them (see _mask_in_jvm_log).
_jvm_masked: tuple[SparkContext, frozenset[str]] | None = None


def _mask_in_jvm_log(spark_context: SparkContext) -> None:
    """Give the driver's console appenders (Spark's own log, log4j2 on stderr) a layout that masks
    every registered secret: Spark logs a failed task with its error's text there."""
    global _jvm_masked
    if _jvm_masked == (spark_context, frozenset(_SECRETS)):
        return
    jvm = spark_context._jvm
    log4j = jvm.org.apache.logging.log4j
    secrets = jvm.java.util.regex.Pattern.compile("|".join(jvm.java.util.regex.Pattern.quote(s) for s in _SECRETS))
    masking = log4j.core.pattern.RegexReplacement.createRegexReplacement(secrets, MASK)
    context = log4j.LogManager.getContext(False)
    config = context.getConfiguration()
    consoles = [
        (logger, name, appender)
        for logger in [config.getRootLogger(), *config.getLoggers().values()]
        for name, appender in logger.getAppenders().items()
        if appender.getClass().getSimpleName() == "ConsoleAppender"
        and appender.getLayout().getClass().getSimpleName() == "PatternLayout"
    ]
    # Appenders and layouts cannot change: a new appender with the same pattern replaces each one.
    replaced: dict[str, Any] = {}
    for logger, name, appender in consoles:
        if name not in replaced:
            layout = log4j.core.layout.PatternLayout.newBuilder().withPattern(
                appender.getLayout().getConversionPattern()
            )
            layout = layout.withConfiguration(config).withRegexReplacement(masking).build()
            builder = log4j.core.appender.ConsoleAppender.newBuilder().setName(name).setTarget(appender.getTarget())
            replaced[name] = builder.setLayout(layout).setConfiguration(config).build()
            replaced[name].start()
        logger.removeAppender(name)
        logger.addAppender(replaced[name], None, None)
    for _, _, appender in consoles:
        appender.stop()
    context.updateLoggers()
    _jvm_masked = (spark_context, frozenset(_SECRETS))


def register_spark_secrets(secrets: Iterable[str | None]) -> None:
    """Mask these secrets, from now on, in Spark's logs and errors (idempotent; call it before a
    secret goes into a Spark option or property)."""
    for secret in secrets:
        if secret:
            _SECRETS.update((secret, escape_new_line(secret)))
    loggers = [logging.getLogger(n) for n in _PY4J_LOGGERS] + [PySparkLogger.getLogger(n) for n in _PYSPARK_LOGGERS]
    for logger in loggers:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    # Every JVM call returns through py4j's `get_return_value`, which PySpark already wraps to turn
    # Java errors into Python ones; wrapping it once more catches every error of every Spark call,
    # actions included. Checked on every registration: PySpark re-installs its own wrapper whenever a
    # SparkSession object is created.
    current = py4j.java_gateway.get_return_value
    if not getattr(current, "redacts_secrets", False):
        py4j.java_gateway.get_return_value = _redacting(current)
    spark_context = SparkContext._active_spark_context
    if spark_context is not None and _SECRETS:
        _mask_in_jvm_log(spark_context)
