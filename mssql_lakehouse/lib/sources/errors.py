"""The exceptions the source layer raises, so callers can tell them apart.

Every message names the table or capture instance concerned and never
contains a secret (see :func:`mssql_lakehouse.lib.sources.redaction.redact`).
"""

from __future__ import annotations


class SourceError(Exception):
    """Base class of the source layer's errors."""


class InvalidIdentifierError(SourceError, ValueError):
    """A schema, table or column name from configuration was refused."""


class TableNotFoundError(SourceError):
    """The source has no such table (or the login cannot see it)."""


class UnsupportedTypeError(SourceError):
    """A source column has a type the type mapping does not cover."""


class SourceConfigError(SourceError, ValueError):
    """The source or table configuration is incomplete or contradictory."""


class SourceConnectionError(SourceError):
    """A control connection could not be opened or a control query failed."""


class PositionExpiredError(SourceError):
    """The saved change position is older than the source still keeps.

    The changes between the saved position and the oldest one the source still
    has are gone, so reading on would silently skip them. The only way on is a
    full refresh of the table.
    """


class CdcPositionExpiredError(PositionExpiredError):
    """The from-LSN is below the capture instance's minimum LSN (CDC cleanup ran)."""


class ChangeTrackingVersionExpiredError(PositionExpiredError):
    """The last sync version is below ``CHANGE_TRACKING_MIN_VALID_VERSION`` of the table."""


class ChangeWindowNotClosedError(SourceError):
    """The CDC capture process has not yet reached the end of the requested window.

    Reading now could miss changes committed in the window but not yet harvested
    into the change table; retry once the capture job has caught up.
    """
