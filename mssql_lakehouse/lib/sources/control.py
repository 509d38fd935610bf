"""Control queries: small reads over a DB-API connection, always with ``?`` parameters.

SQL Server goes through pyodbc (ODBC Driver 18), the demo through duckdb's
DB-API; both take ``?`` placeholders, so the SQL here and in the extraction
code is the same for both apart from what the dialect spells.

A session is short-lived (one extraction's planning): DuckDB allows a read-only
connection only while no process writes the file, and SQL Server connections
are a resource of the source we protect.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from mssql_lakehouse.lib.sources.dialects import Dialect
from mssql_lakehouse.lib.sources.errors import SourceConnectionError, TableNotFoundError
from mssql_lakehouse.lib.sources.redaction import redact
from mssql_lakehouse.lib.sources.type_mapping import SourceColumn

log = logging.getLogger(__name__)


class ControlSession:
    """One open control connection."""

    def __init__(self, dialect: Dialect, connection: Any) -> None:
        self.dialect = dialect
        self._connection = connection

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql, list(params))
            return [tuple(r) for r in cursor.fetchall()]
        except Exception as exc:  # driver errors differ per engine; say which query failed
            message = redact(str(exc), self.dialect.settings.secrets)
            raise SourceConnectionError(f"control query failed: {message}\nquery: {sql}") from None
        finally:
            cursor.close()

    def row(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.row(sql, params)
        return row[0] if row else None

    def table_columns(self, schema: str, table: str) -> list[SourceColumn]:
        """The table's columns in ordinal order, typed as SQL Server types."""
        rows = self.rows(self.dialect.columns_sql, [schema, table])
        if not rows:
            raise TableNotFoundError(
                f"table {schema}.{table} not found in {self.dialect.settings.database} (or the login cannot see it)"
            )
        return [self.dialect.source_column(r) for r in rows]


@contextlib.contextmanager
def control_session(dialect: Dialect) -> Iterator[ControlSession]:
    connection = dialect.connect()
    try:
        yield ControlSession(dialect, connection)
    finally:
        connection.close()
