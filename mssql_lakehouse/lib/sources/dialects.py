"""Where SQL Server and the demo (DuckDB) differ - and nothing else.

Everything here is spelling: how an identifier is quoted, how a typed value is
written into the SQL text Spark sends, how AS OF / the CDC LSN functions /
CHANGETABLE / the change tracking versions / a cast to bigint are written, and
how to connect (JDBC URL, driver class and properties for Spark; a DB-API
connection for control queries). The extraction logic that uses these
spellings (modes, windows, bounds, split planning, expired-position checks, the
type mapping, reconciliation) is shared, in the other modules of this package.

===========================  ===========================================  ==============================================
Thing                        SQL Server (``mssql``)                        Demo (``demo``, DuckDB file)
===========================  ===========================================  ==============================================
identifier                   ``[name]``, ``]`` doubled                     ``"name"``, ``"`` doubled
datetime literal             ``CAST('2024-01-01T00:00:00.000000'           ``TIMESTAMP '2024-01-01 00:00:00.000000'``
                             AS datetime2(7))``
LSN / binary literal         ``0x0000002A000000100003``                    ``unhex('0000002A000000100003')``
cast to bigint               ``CAST(x AS bigint)``                         ``CAST(x AS BIGINT)``
AS OF (temporal)             ``t FOR SYSTEM_TIME AS OF '...'``             current UNION ALL history, filtered on the
                                                                           period columns (``from <= t < to``)
CDC time -> LSN              ``sys.fn_cdc_map_time_to_lsn(...)``           min/max over ``cdc.lsn_time_mapping``
CDC min / max LSN            ``sys.fn_cdc_get_min_lsn(ci)`` /              ``cdc.change_tables.start_lsn`` /
                             ``sys.fn_cdc_get_max_lsn()``                  max of ``cdc.lsn_time_mapping``
CDC captured until           time of the max LSN (the capture job logs     end of the last day in ``demo.seeded_days``
                             entries in idle periods too)                  (a seeded day is written whole)
CDC LSN -> time              ``sys.fn_cdc_map_lsn_to_time(lsn)``           ``cdc.lsn_time_mapping``
CT changes                   ``CHANGETABLE(CHANGES t, v)``                 net changes from the
                                                                           ``ct.<Schema>_<Table>`` log
CT versions                  ``CHANGE_TRACKING_CURRENT_VERSION()``,        ``ct.versions``, ``ct.min_valid_versions``
                             ``CHANGE_TRACKING_MIN_VALID_VERSION(...)``
rowversion upper bound       ``MIN_ACTIVE_ROWVERSION()`` (exclusive)       max of the column + 1 (no open transactions)
JDBC                         ``jdbc:sqlserver://host:port`` +              ``jdbc:duckdb:<file>``, ``duckdb.read_only``
                             properties (database, auth, encryption)
control queries              pyodbc, ODBC Driver 18                        duckdb's DB-API, read-only
===========================  ===========================================  ==============================================

Values in control queries are always ``?`` parameters. The SQL that Spark's JDBC
reader sends cannot carry parameters (Spark has no binding for ``dbtable``), so
window bounds are written by :meth:`Dialect.literal`, which accepts only typed
Python values (``int``, ``Decimal``, ``datetime``, ``date``, ``bytes``) - never
a ``str`` - and renders them from their parts.
"""

from __future__ import annotations

import abc
import datetime as dt
import decimal
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from mssql_lakehouse.lib.sources.connection import ConnectionSettings
from mssql_lakehouse.lib.sources.errors import SourceConfigError, SourceConnectionError, UnsupportedTypeError
from mssql_lakehouse.lib.sources.identifiers import quote_bracket, quote_double
from mssql_lakehouse.lib.sources.redaction import redact
from mssql_lakehouse.lib.sources.sql_text import Param, Sql
from mssql_lakehouse.lib.sources.type_mapping import SourceColumn

MSSQL_JDBC_DRIVER = "com.microsoft.sqlserver.jdbc.SQLServerDriver"
DUCKDB_JDBC_DRIVER = "org.duckdb.DuckDBDriver"


class Dialect(abc.ABC):
    """The spellings of one engine. Stateless apart from the connection settings."""

    name: str

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings

    # -- identifiers -------------------------------------------------------
    @abc.abstractmethod
    def quote(self, name: str) -> str: ...

    def table(self, schema: str, table: str) -> str:
        return f"{self.quote(schema)}.{self.quote(table)}"

    def column(self, name: str, qualifier: str | None = None) -> str:
        return f"{self.quote(qualifier)}.{self.quote(name)}" if qualifier else self.quote(name)

    # -- typed literals for the Spark-side SQL --------------------------------
    def literal(self, value: Any) -> str:
        if isinstance(value, bool) or value is None or isinstance(value, str):
            raise TypeError(f"no literal for {type(value).__name__}: only int, Decimal, datetime, date, bytes")
        if isinstance(value, int):
            return str(int(value))
        if isinstance(value, decimal.Decimal):
            if not value.is_finite():
                raise ValueError("non-finite decimal")
            return format(value, "f")
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                raise ValueError("datetime literals must be naive (in the source's time zone)")
            return self._datetime_literal(value)
        if isinstance(value, dt.date):
            return self._date_literal(value)
        if isinstance(value, (bytes, bytearray)):
            return self._binary_literal(bytes(value).hex().upper())
        raise TypeError(f"no literal for {type(value).__name__}")

    def inline_param(self, param: Param) -> str:
        if param.as_text:
            if not isinstance(param.value, dt.datetime) or param.value.tzinfo is not None:
                raise TypeError("only naive datetimes inline as text")
            return f"'{param.value.strftime('%Y-%m-%dT%H:%M:%S.%f')}'"
        return self.literal(param.value)

    @abc.abstractmethod
    def _datetime_literal(self, value: dt.datetime) -> str: ...

    @abc.abstractmethod
    def _date_literal(self, value: dt.date) -> str: ...

    @abc.abstractmethod
    def _binary_literal(self, hex_digits: str) -> str: ...

    # -- expressions -------------------------------------------------------
    def cast(self, expr: str, sql_type: str) -> str:
        return f"CAST({expr} AS {sql_type})"

    def to_bigint(self, expr: str) -> str:
        return self.cast(expr, "bigint")

    @abc.abstractmethod
    def count_rows(self) -> str: ...

    @abc.abstractmethod
    def uuid_string(self, expr: str) -> str: ...

    @abc.abstractmethod
    def datetime_micros(self, expr: str, column: SourceColumn) -> str:
        """Microseconds from 1970-01-01 to a wall-clock value, the sub-microsecond part truncated (floor)."""

    @abc.abstractmethod
    def date_days(self, expr: str) -> str:
        """Days from 1970-01-01 to a date."""

    @abc.abstractmethod
    def offset_instant_micros(self, expr: str) -> str: ...

    @abc.abstractmethod
    def offset_minutes(self, expr: str) -> str: ...

    @abc.abstractmethod
    def time_string(self, expr: str) -> str: ...

    @abc.abstractmethod
    def special_string(self, expr: str, sql_type: str) -> str: ...

    # -- catalog -----------------------------------------------------------
    columns_sql = (
        "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, "
        "IS_NULLABLE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? "
        "ORDER BY ORDINAL_POSITION"
    )

    @abc.abstractmethod
    def source_column(self, row: Sequence[Any]) -> SourceColumn:
        """A row of :attr:`columns_sql` as a column with its SQL Server type."""

    # -- temporal ----------------------------------------------------------
    @abc.abstractmethod
    def as_of_relation(
        self,
        schema: str,
        table: str,
        as_of: dt.datetime,
        columns: Sequence[str],
        period_columns: tuple[str, str],
        history_table: str,
    ) -> tuple[Sql, list[Sql]]:
        """A FROM-clause relation (aliased ``src``) and predicates: the rows valid at ``as_of`` (UTC, naive)."""

    # -- CDC ---------------------------------------------------------------
    @property
    @abc.abstractmethod
    def cdc_lsn_at_or_after_sql(self) -> str:
        """One ``?`` (a time): the smallest LSN committed at or after it, or NULL."""

    @property
    @abc.abstractmethod
    def cdc_lsn_before_sql(self) -> str:
        """One ``?`` (a time): the largest LSN committed before it, or NULL."""

    @property
    @abc.abstractmethod
    def cdc_min_lsn_sql(self) -> str:
        """One ``?`` (capture instance): its low endpoint."""

    @property
    @abc.abstractmethod
    def cdc_max_lsn_sql(self) -> str:
        """No parameter: the highest LSN the capture process has written."""

    @property
    @abc.abstractmethod
    def cdc_lsn_time_sql(self) -> str:
        """One ``?`` (an LSN): the commit time of the transaction at or before it."""

    @property
    @abc.abstractmethod
    def cdc_captured_until_sql(self) -> str:
        """No parameter: the time up to which the capture process has harvested every commit."""

    @property
    @abc.abstractmethod
    def cdc_instance_sql(self) -> str:
        """One ``?`` (capture instance): (source schema, source table, create date) or no row."""

    # Same spelling on both engines: the last commit still on record before an LSN.
    cdc_time_before_lsn_sql = "SELECT max(tran_end_time) FROM cdc.lsn_time_mapping WHERE start_lsn < ?"

    def cdc_change_table(self, capture_instance: str) -> str:
        return self.table("cdc", f"{capture_instance}_CT")

    def cdc_lsn_time_mapping(self) -> str:
        return self.table("cdc", "lsn_time_mapping")

    # -- change tracking ---------------------------------------------------
    @abc.abstractmethod
    def ct_changes_relation(self, schema: str, table: str, last_sync_version: int) -> Sql:
        """A relation (aliased ``ct``) with one row per changed key since the version:
        the key columns, ``SYS_CHANGE_VERSION`` and ``SYS_CHANGE_OPERATION``."""

    @property
    @abc.abstractmethod
    def ct_current_version_sql(self) -> str:
        """No parameter: the database's current change tracking version."""

    @abc.abstractmethod
    def ct_min_valid_version_query(self, schema: str, table: str) -> tuple[str, list[Any]]:
        """The table's min valid version (no row or NULL if the table is not tracked)."""

    # -- rowversion --------------------------------------------------------
    @abc.abstractmethod
    def rowversion_upper_sql(self, schema: str, table: str, column: str) -> str:
        """No parameter: an exclusive upper bound below which every rowversion is committed."""

    # -- connecting --------------------------------------------------------
    @property
    @abc.abstractmethod
    def jdbc_driver(self) -> str: ...

    @abc.abstractmethod
    def jdbc_url(self) -> str: ...

    @abc.abstractmethod
    def jdbc_properties(self) -> dict[str, str]:
        """Connection properties for Spark's JDBC reader (may contain secrets: never log)."""

    @abc.abstractmethod
    def connect(self) -> Any:
        """A new DB-API connection for control queries (``?`` parameters)."""


class MssqlDialect(Dialect):
    name = "mssql"

    def quote(self, name: str) -> str:
        return quote_bracket(name)

    def _datetime_literal(self, value: dt.datetime) -> str:
        return f"CAST('{value.strftime('%Y-%m-%dT%H:%M:%S.%f')}' AS datetime2(7))"

    def _date_literal(self, value: dt.date) -> str:
        return f"CAST('{value.strftime('%Y-%m-%d')}' AS date)"

    def _binary_literal(self, hex_digits: str) -> str:
        return "0x" + hex_digits

    def count_rows(self) -> str:
        return "COUNT_BIG(*)"

    def uuid_string(self, expr: str) -> str:
        return f"LOWER(CONVERT(char(36), {expr}))"

    def datetime_micros(self, expr: str, column: SourceColumn) -> str:
        # DATEDIFF_BIG counts microsecond boundaries crossed: the 7th digit is truncated, never rounded.
        return f"DATEDIFF_BIG(microsecond, CAST('1970-01-01T00:00:00' AS datetime2(7)), {expr})"

    def date_days(self, expr: str) -> str:
        return f"DATEDIFF(day, CAST('1970-01-01' AS date), {expr})"

    def offset_instant_micros(self, expr: str) -> str:
        # DATEDIFF_BIG counts microsecond boundaries: the 7th digit is truncated, never rounded.
        return (
            "DATEDIFF_BIG(microsecond, CAST('1970-01-01T00:00:00' AS datetime2(7)), "
            f"CAST(SWITCHOFFSET({expr}, '+00:00') AS datetime2(7)))"
        )

    def offset_minutes(self, expr: str) -> str:
        return f"DATEPART(TZOFFSET, {expr})"

    def time_string(self, expr: str) -> str:
        return f"CAST({expr} AS varchar(16))"

    def special_string(self, expr: str, sql_type: str) -> str:
        if sql_type == "xml":
            return f"CAST({expr} AS nvarchar(max))"
        if sql_type == "hierarchyid":
            return f"{expr}.ToString()"
        if sql_type in ("geography", "geometry"):
            return f"{expr}.STAsText()"
        if sql_type == "sql_variant":
            return f"CAST({expr} AS nvarchar(4000))"
        raise UnsupportedTypeError(f"no string form for {sql_type}")

    def source_column(self, row: Sequence[Any]) -> SourceColumn:
        name, data_type, char_len, precision, scale, nullable = row
        sql_type = str(data_type).lower()
        if sql_type == "timestamp":  # INFORMATION_SCHEMA's name for rowversion
            sql_type = "rowversion"
        if sql_type == "numeric":
            sql_type = "decimal"
        return SourceColumn(
            name=name,
            sql_type=sql_type,
            precision=int(precision) if precision is not None else None,
            scale=int(scale) if scale is not None else None,
            max_length=int(char_len) if char_len is not None else None,
            nullable=str(nullable).upper() == "YES",
            engine_type=str(data_type),
        )

    def as_of_relation(self, schema, table, as_of, columns, period_columns, history_table):
        # FOR SYSTEM_TIME takes a literal or variable, not an expression; inlined,
        # the ISO 8601 text with 'T' converts the same under every DATEFORMAT/LANGUAGE.
        relation = Sql(
            f"{self.table(schema, table)} FOR SYSTEM_TIME AS OF ",
            Param(as_of, as_text=True),
            f" AS {self.quote('src')}",
        )
        return relation, []

    cdc_lsn_at_or_after_sql = "SELECT sys.fn_cdc_map_time_to_lsn('smallest greater than or equal', ?)"
    cdc_lsn_before_sql = "SELECT sys.fn_cdc_map_time_to_lsn('largest less than', ?)"
    cdc_min_lsn_sql = "SELECT sys.fn_cdc_get_min_lsn(?)"
    cdc_max_lsn_sql = "SELECT sys.fn_cdc_get_max_lsn()"
    cdc_lsn_time_sql = "SELECT sys.fn_cdc_map_lsn_to_time(?)"
    # The capture job also logs LSN-time entries in idle periods, so the time of
    # the max LSN says how far the change tables are complete.
    cdc_captured_until_sql = "SELECT sys.fn_cdc_map_lsn_to_time(sys.fn_cdc_get_max_lsn())"
    cdc_instance_sql = (
        "SELECT OBJECT_SCHEMA_NAME(source_object_id), OBJECT_NAME(source_object_id), create_date "
        "FROM cdc.change_tables WHERE capture_instance = ?"
    )

    def ct_changes_relation(self, schema, table, last_sync_version) -> Sql:
        return Sql(
            f"CHANGETABLE(CHANGES {self.table(schema, table)}, ",
            Param(int(last_sync_version)),
            f") AS {self.quote('ct')}",
        )

    ct_current_version_sql = "SELECT CHANGE_TRACKING_CURRENT_VERSION()"

    def ct_min_valid_version_query(self, schema, table):
        # The quoted two-part name is a bound value here, never SQL text.
        return "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(?))", [self.table(schema, table)]

    def rowversion_upper_sql(self, schema, table, column) -> str:
        # Rows below MIN_ACTIVE_ROWVERSION() are committed; an open transaction's
        # rows can only get values at or above it, so nothing is skipped.
        return "SELECT CAST(MIN_ACTIVE_ROWVERSION() AS bigint)"

    jdbc_driver = MSSQL_JDBC_DRIVER

    def jdbc_url(self) -> str:
        s = self.settings
        if "\\" in s.server:  # named instance: the SQL Browser gives the port
            return f"jdbc:sqlserver://{s.server}"
        return f"jdbc:sqlserver://{s.server}:{s.port}"

    def jdbc_properties(self) -> dict[str, str]:
        s = self.settings
        props = {
            "databaseName": s.database,
            "encrypt": "true" if s.encrypt else "false",
            "trustServerCertificate": "true" if s.trust_server_certificate else "false",
            "loginTimeout": str(s.login_timeout_seconds),
            "applicationName": s.application_name,
        }
        if s.host_name_in_certificate:
            props["hostNameInCertificate"] = s.host_name_in_certificate
        if s.read_only_intent:
            props["applicationIntent"] = "ReadOnly"
        if s.auth == "sql":
            props.update(user=s.user or "", password=s.password or "")
        elif s.auth == "service_principal":
            props.update(
                authentication="ActiveDirectoryServicePrincipal", user=s.client_id or "", password=s.client_secret or ""
            )
        else:
            props["authentication"] = "ActiveDirectoryManagedIdentity"
            if s.client_id:  # user-assigned identity
                props["user"] = s.client_id
        return props

    def odbc_connection_string(self) -> str:
        """ODBC Driver 18 connection string (contains the secret: never log it)."""
        s = self.settings

        def braced(value: str) -> str:
            return "{" + value.replace("}", "}}") + "}"

        server = f"tcp:{s.server}" if "\\" in s.server else f"tcp:{s.server},{s.port}"
        parts = {
            "DRIVER": braced(s.odbc_driver),
            "SERVER": server,
            "DATABASE": braced(s.database),
            "Encrypt": "yes" if s.encrypt else "no",
            "TrustServerCertificate": "yes" if s.trust_server_certificate else "no",
            "Connection Timeout": str(s.login_timeout_seconds),
            "APP": braced(s.application_name),
        }
        if s.host_name_in_certificate:
            parts["HostNameInCertificate"] = braced(s.host_name_in_certificate)
        if s.read_only_intent:
            parts["ApplicationIntent"] = "ReadOnly"
        if s.auth == "sql":
            parts.update(UID=braced(s.user or ""), PWD=braced(s.password or ""))
        elif s.auth == "service_principal":
            parts.update(
                Authentication="ActiveDirectoryServicePrincipal",
                UID=braced(s.client_id or ""),
                PWD=braced(s.client_secret or ""),
            )
        else:
            parts["Authentication"] = "ActiveDirectoryMsi"
            if s.client_id:
                parts["UID"] = braced(s.client_id)
        return ";".join(f"{k}={v}" for k, v in parts.items()) + ";"

    def connect(self) -> Any:
        try:
            import pyodbc  # needs the unixODBC library and Microsoft's ODBC Driver 18 on the machine
        except ImportError as exc:
            raise SourceConnectionError(
                f"pyodbc cannot be imported (is unixODBC installed, with ODBC Driver 18 for SQL Server?): {exc}"
            ) from None
        s = self.settings
        try:
            return pyodbc.connect(self.odbc_connection_string(), autocommit=True, timeout=s.login_timeout_seconds)
        except pyodbc.Error as exc:
            raise SourceConnectionError(
                f"could not connect to {s.server}/{s.database}: {redact(str(exc), s.secrets)}"
            ) from None


class DemoDialect(Dialect):
    """The embedded demo ERP: a DuckDB file standing in for one SQL Server database."""

    name = "demo"

    # DuckDB type -> the SQL Server type it stands for in the demo.
    _TYPES: ClassVar[dict[str, str]] = {
        "BOOLEAN": "bit",
        "UTINYINT": "tinyint",
        "TINYINT": "smallint",
        "SMALLINT": "smallint",
        "USMALLINT": "int",
        "INTEGER": "int",
        "UINTEGER": "bigint",
        "BIGINT": "bigint",
        "DOUBLE": "float",
        "FLOAT": "real",
        "DATE": "date",
        "TIMESTAMP": "datetime2",
        "TIMESTAMP_NS": "datetime2",
        "TIMESTAMP_MS": "datetime2",
        "TIMESTAMP_S": "datetime2",
        "TIMESTAMP WITH TIME ZONE": "datetimeoffset",
        "TIME": "time",
        "VARCHAR": "nvarchar",
        "BLOB": "varbinary",
        "UUID": "uniqueidentifier",
    }
    _DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
    _WIDE_INTEGERS: ClassVar[dict[str, int]] = {"HUGEINT": 38, "UBIGINT": 20, "UHUGEINT": 38}

    def quote(self, name: str) -> str:
        return quote_double(name)

    def _datetime_literal(self, value: dt.datetime) -> str:
        return f"TIMESTAMP '{value.strftime('%Y-%m-%d %H:%M:%S.%f')}'"

    def _date_literal(self, value: dt.date) -> str:
        return f"DATE '{value.strftime('%Y-%m-%d')}'"

    def _binary_literal(self, hex_digits: str) -> str:
        return f"unhex('{hex_digits}')"

    def cast(self, expr: str, sql_type: str) -> str:
        return f"CAST({expr} AS {sql_type.upper()})"

    def count_rows(self) -> str:
        return "COUNT(*)"

    def uuid_string(self, expr: str) -> str:
        return f"lower(CAST({expr} AS VARCHAR))"

    def datetime_micros(self, expr: str, column: SourceColumn) -> str:
        if column.engine_type == "TIMESTAMP_NS":
            # epoch_us() would round nanoseconds; floor-divide the exact epoch_ns instead.
            ns = f"epoch_ns({expr})"
            return f"(({ns} - ((({ns} % 1000) + 1000) % 1000)) // 1000)"
        return f"epoch_us({expr})"

    def date_days(self, expr: str) -> str:
        return f"CAST(({expr} - DATE '1970-01-01') AS BIGINT)"

    def offset_instant_micros(self, expr: str) -> str:
        return f"epoch_us({expr})"

    def offset_minutes(self, expr: str) -> str:
        # TIMESTAMPTZ keeps the instant only; the original offset is not stored.
        return f"CASE WHEN {expr} IS NULL THEN NULL ELSE CAST(0 AS INTEGER) END"

    def time_string(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def special_string(self, expr: str, sql_type: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def source_column(self, row: Sequence[Any]) -> SourceColumn:
        name, data_type, _char_len, precision, scale, nullable = row
        engine_type = str(data_type).upper()
        decimal_match = self._DECIMAL.match(engine_type)
        if decimal_match:
            sql_type, precision, scale = "decimal", int(decimal_match[1]), int(decimal_match[2])
        elif engine_type in self._WIDE_INTEGERS:
            sql_type, precision, scale = "decimal", self._WIDE_INTEGERS[engine_type], 0
        elif engine_type in self._TYPES:
            sql_type, precision, scale = self._TYPES[engine_type], None, None
        else:
            raise UnsupportedTypeError(
                f"column {name!r} has DuckDB type {engine_type}, which stands for no SQL Server type"
            )
        return SourceColumn(
            name=name,
            sql_type=sql_type,
            precision=precision,
            scale=scale,
            max_length=-1 if sql_type in ("nvarchar", "varbinary") else None,
            nullable=str(nullable).upper() == "YES",
            engine_type=engine_type,
        )

    def as_of_relation(self, schema, table, as_of, columns, period_columns, history_table):
        # SQL Server's AS OF: the row versions with ValidFrom <= t < ValidTo,
        # over the current table and its history table.
        cols = ", ".join(self.quote(c) for c in columns)
        valid_from, valid_to = (self.column(c, "src") for c in period_columns)
        relation = Sql(
            f"(SELECT {cols} FROM {self.table(schema, table)} UNION ALL "
            f"SELECT {cols} FROM {self.table(schema, history_table)}) AS {self.quote('src')}"
        )
        return relation, [Sql(f"{valid_from} <= ", Param(as_of)), Sql(f"{valid_to} > ", Param(as_of))]

    cdc_lsn_at_or_after_sql = "SELECT min(start_lsn) FROM cdc.lsn_time_mapping WHERE tran_end_time >= ?"
    cdc_lsn_before_sql = "SELECT max(start_lsn) FROM cdc.lsn_time_mapping WHERE tran_end_time < ?"
    cdc_min_lsn_sql = "SELECT start_lsn FROM cdc.change_tables WHERE capture_instance = ?"
    cdc_max_lsn_sql = "SELECT max(start_lsn) FROM cdc.lsn_time_mapping"
    cdc_lsn_time_sql = (
        "SELECT tran_end_time FROM cdc.lsn_time_mapping WHERE start_lsn <= ? ORDER BY start_lsn DESC LIMIT 1"
    )
    cdc_instance_sql = (
        "SELECT source_schema, source_table, create_date FROM cdc.change_tables WHERE capture_instance = ?"
    )
    # The seed writes whole days, each in one transaction: a seeded day is fully captured.
    cdc_captured_until_sql = 'SELECT CAST(max("day") + 1 AS TIMESTAMP) FROM "demo"."seeded_days"'

    def ct_changes_relation(self, schema, table, last_sync_version) -> Sql:
        # The demo's table macro ct."CHANGES_<Schema>_<Table>"(v) emulates
        # CHANGETABLE(CHANGES ...): net changes, one row per key since v.
        macro = self.table("ct", f"CHANGES_{schema}_{table}")
        return Sql(f"{macro}(", Param(int(last_sync_version)), f") AS {self.quote('ct')}")

    ct_current_version_sql = 'SELECT coalesce(max("version"), 0) FROM "ct"."versions"'

    def ct_min_valid_version_query(self, schema, table):
        return (
            'SELECT "min_valid_version" FROM "ct"."min_valid_versions" WHERE "schema_name" = ? AND "table_name" = ?',
            [schema, table],
        )

    def rowversion_upper_sql(self, schema, table, column) -> str:
        col = self.to_bigint(self.quote(column))
        return f"SELECT COALESCE(max({col}), 0) + 1 FROM {self.table(schema, table)}"

    jdbc_driver = DUCKDB_JDBC_DRIVER

    def jdbc_url(self) -> str:
        return f"jdbc:duckdb:{self.settings.demo_path}"

    def jdbc_properties(self) -> dict[str, str]:
        # Read-only: a shared lock, so control queries and other readers can run
        # alongside; results streamed instead of materialised per partition.
        return {"duckdb.read_only": "true", "jdbc_stream_results": "true"}

    def connect(self) -> Any:
        import duckdb

        try:
            return duckdb.connect(self.settings.demo_path, read_only=True)
        except duckdb.Error as exc:
            raise SourceConnectionError(f"could not open the demo database {self.settings.demo_path}: {exc}") from None


def dialect_for(settings: ConnectionSettings) -> Dialect:
    if settings.engine == "mssql":
        return MssqlDialect(settings)
    if settings.engine == "demo":
        return DemoDialect(settings)
    raise SourceConfigError(f"no dialect for engine {settings.engine!r}")
