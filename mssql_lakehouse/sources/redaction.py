"""Keeping secrets out of reprs, log lines, exception messages and metadata.

Secrets (passwords, client secrets) only ever live in the resource's fields and
in the connection properties handed to a driver. Anything we print or raise
that could contain driver text goes through :func:`redact` first, and py4j's
DEBUG log (which records every option sent to the JVM, a JDBC password
included) is filtered by :func:`protect_py4j_logs`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "***"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of every (non-empty) secret replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


# py4j logs every command it sends to the JVM at DEBUG, option values included:
# a JDBC password passed to Spark would be in that log line. These loggers get a
# filter that redacts every secret registered with it.
PY4J_LOGGERS = ("py4j", "py4j.clientserver", "py4j.java_gateway", "py4j.protocol")


class _SecretFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            redacted = redact(message, self.secrets)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


_FILTER = _SecretFilter()


def protect_py4j_logs(secrets: Iterable[str | None]) -> None:
    """Redact these secrets from py4j's log records from now on (idempotent)."""
    _FILTER.secrets.update(s for s in secrets if s)
    for name in PY4J_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
