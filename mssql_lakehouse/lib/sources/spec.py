"""The declarative description of one source table: what to read and how.

Assets declare a :class:`TableSource` per table; the source resource turns it
into SQL. Every name in it is validated here, when the spec is built, so a bad
name fails at import time rather than in a run.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mssql_lakehouse.lib.sources.errors import SourceConfigError
from mssql_lakehouse.lib.sources.identifiers import validate_identifier


class ExtractionMode(str, enum.Enum):
    SNAPSHOT = "snapshot"
    """The whole table (optionally ``FOR SYSTEM_TIME AS OF`` a time, for temporal tables)."""
    WATERMARK = "watermark"
    """Rows whose ``datetime2`` watermark column is in the half-open window ``[start, end)``."""
    ROWVERSION = "rowversion"
    """Rows whose ``rowversion`` (compared as bigint) is in ``[from, to)``; ``to`` is read from the source."""
    CDC = "cdc"
    """The change rows of a CDC capture instance between two LSNs (or a time window's LSN range)."""
    CHANGE_TRACKING = "change_tracking"
    """Net changes since a sync version, from ``CHANGETABLE(CHANGES ...)`` joined to the table."""


@dataclass(frozen=True)
class TableSource:
    """One source table and how it is extracted.

    ``key_columns``: the primary key (required for change tracking, used for
    reconciliation). ``split_column``: an integer column to split parallel reads
    on (for CDC it must be a captured column; for change tracking a key column).
    ``reconcile_columns``: numeric columns whose sums are compared between the
    source and what was landed.
    """

    schema: str
    table: str
    mode: ExtractionMode = ExtractionMode.SNAPSHOT
    key_columns: tuple[str, ...] = ()
    watermark_column: str | None = None
    rowversion_column: str | None = None
    split_column: str | None = None
    capture_instance: str | None = None
    period_columns: tuple[str, str] = ("ValidFrom", "ValidTo")
    history_table: str | None = None
    columns: tuple[str, ...] | None = None
    reconcile_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", ExtractionMode(self.mode))
        for attr in ("key_columns", "period_columns", "reconcile_columns"):
            object.__setattr__(self, attr, tuple(getattr(self, attr)))
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(self.columns))
        validate_identifier(self.schema, "schema")
        validate_identifier(self.table, "table")
        for what, names in (
            ("key column", self.key_columns),
            ("period column", self.period_columns),
            ("reconcile column", self.reconcile_columns),
            ("column", self.columns or ()),
        ):
            for name in names:
                validate_identifier(name, what)
        for what in ("watermark_column", "rowversion_column", "split_column", "capture_instance", "history_table"):
            value = getattr(self, what)
            if value is not None:
                validate_identifier(value, what)
        if self.mode is ExtractionMode.WATERMARK and not self.watermark_column:
            raise SourceConfigError(f"{self.name}: watermark mode needs watermark_column")
        if self.mode is ExtractionMode.ROWVERSION and not self.rowversion_column:
            raise SourceConfigError(f"{self.name}: rowversion mode needs rowversion_column")
        if self.mode is ExtractionMode.CHANGE_TRACKING and not self.key_columns:
            raise SourceConfigError(f"{self.name}: change tracking needs key_columns (the primary key)")
        if len(self.period_columns) != 2:
            raise SourceConfigError(f"{self.name}: period_columns are (valid from, valid to)")
        if self.columns is not None:
            for needed in (*self.key_columns, self.split_column, self.watermark_column, self.rowversion_column):
                if needed and needed not in self.columns:
                    raise SourceConfigError(f"{self.name}: column {needed!r} must be among columns")

    @property
    def name(self) -> str:
        """``Schema.Table``, for messages and metadata."""
        return f"{self.schema}.{self.table}"

    @property
    def cdc_capture_instance(self) -> str:
        """The capture instance; SQL Server's default name is ``<schema>_<table>``."""
        return self.capture_instance or f"{self.schema}_{self.table}"

    @property
    def temporal_history_table(self) -> str:
        return self.history_table or f"{self.table}History"
