"""SQL Server type -> Spark/Delta type, applied through the source select list.

The column list of a table comes from ``INFORMATION_SCHEMA.COLUMNS`` (SQL
Server and DuckDB both have it). The dialect turns each row into a
:class:`SourceColumn` whose ``sql_type`` is a SQL Server type name (the demo
maps DuckDB's types to the SQL Server types they stand for). This module then
decides, per column, the expression in the source ``SELECT`` and the Spark type
the column has in the DataFrame (and so in bronze Delta):

========================================  ========================  ==================================================
SQL Server type                           Spark / Delta type        How, and why
========================================  ========================  ==================================================
bit                                       boolean                   NULL stays NULL.
tinyint                                   smallint                  Cast at the source: 0..255 does not fit Spark's
                                                                    signed ``byte`` (255 would wrap to -1).
smallint / int / bigint                   smallint / int / bigint
decimal(p,s) / numeric(p,s)               decimal(p,s)              Exact.
money                                     decimal(19,4)             Cast at the source; cent-exact, never float.
smallmoney                                decimal(10,4)             Cast at the source; cent-exact.
float / real                              double / float
date                                      date                      Sent as days since 1970-01-01, turned back by
                                                                    Spark: ``9999-12-31`` and ``0001-01-01`` are kept
                                                                    (no Julian/Gregorian shift through java.sql.Date).
datetime2(n), datetime, smalldatetime     timestamp_ntz             The wall-clock value, no time zone: sent as
                                                                    microseconds since 1970-01-01 (``DATEDIFF_BIG``)
                                                                    and turned back by Spark with interval
                                                                    arithmetic, so neither the driver's
                                                                    java.sql.Timestamp (JVM time zone, DST gaps, the
                                                                    hybrid calendar before 1582) nor Spark's session
                                                                    time zone can shift it. Spark keeps microseconds:
                                                                    the 7th fractional digit of ``datetime2(7)`` is
                                                                    truncated, never rounded (``23:59:59.9999999`` ->
                                                                    ``23:59:59.999999``, not the next day).
datetimeoffset(n)                         timestamp  +              ``<col>`` is the instant (microseconds since the
                                          ``<col>_offset_minutes``  epoch in UTC, truncated like datetime2, made a
                                          int                       timestamp by Spark); the original offset in
                                                                    minutes goes to its own column. The demo (DuckDB
                                                                    ``TIMESTAMPTZ``) stores the instant only: its
                                                                    offset column is 0 (UTC).
time(n)                                   string                    ``HH:MM:SS[.fffffff]``; Spark has no time type.
char / varchar / nchar / nvarchar(n|max)  string                    Unicode kept as is, including 4-byte characters
text / ntext / sysname                                              (emoji) and values over 8 KB.
binary / varbinary(n|max) / image         binary
uniqueidentifier                          string                    Lower-case canonical ``8-4-4-4-12`` text.
rowversion (``timestamp``)                bigint                    Cast at the source; compare as bigint only.
xml                                       string                    ``CAST(... AS nvarchar(max))``.
hierarchyid                               string                    ``.ToString()`` (SQL Server only).
geography / geometry                      string                    Well-known text, ``.STAsText()`` (SQL Server only).
sql_variant                               string                    ``CAST(... AS nvarchar(4000))``.
anything else                             -                         :class:`UnsupportedTypeError` naming the column:
                                                                    a new type is a decision, not a silent string.
========================================  ========================  ==================================================

``preferTimestampNTZ=true`` is set on every read as well, so a timestamp that
ever arrives as a plain JDBC timestamp is also read as wall-clock time.

Output columns are aliased positionally (``c0``, ``c1``, ...) in the SQL that
Spark sends, and renamed to the real names in Spark afterwards: Spark's JDBC
reader re-quotes column names itself (without doubling embedded quotes), so the
SQL it generates only ever sees these safe aliases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.lib.sources.errors import UnsupportedTypeError

if TYPE_CHECKING:
    from mssql_lakehouse.lib.sources.dialects import Dialect

OFFSET_SUFFIX = "_offset_minutes"

_STRING_TYPES = {"char", "varchar", "nchar", "nvarchar", "text", "ntext", "sysname"}
_BINARY_TYPES = {"binary", "varbinary", "image"}
_TIMESTAMP_TYPES = {"datetime2", "datetime", "smalldatetime"}
_PLAIN = {
    "bit": "boolean",
    "smallint": "smallint",
    "int": "int",
    "bigint": "bigint",
    "float": "double",
    "real": "float",
    "date": "date",
}


@dataclass(frozen=True)
class SourceColumn:
    """One column of a source table, with its SQL Server type."""

    name: str
    sql_type: str
    precision: int | None = None
    scale: int | None = None
    max_length: int | None = None
    nullable: bool = True
    engine_type: str = ""

    @property
    def is_integer(self) -> bool:
        return self.sql_type in {"tinyint", "smallint", "int", "bigint"} or (
            self.sql_type in {"decimal", "numeric"} and self.scale == 0
        )


@dataclass(frozen=True)
class OutputColumn:
    """One column of the extracted DataFrame: source expression and Spark type."""

    name: str
    select_sql: str
    spark_type: str
    finish: str | None = None
    """How Spark turns the transported value into ``spark_type``: one of :data:`FINISHES`."""


FINISHES = ("ntz_from_micros", "instant_from_micros", "date_from_days")


def spark_type_of(column: SourceColumn) -> str:
    """The Spark SQL type of ``column`` in the extracted DataFrame (its main column)."""
    t = column.sql_type
    if t in _PLAIN:
        return _PLAIN[t]
    if t == "tinyint":
        return "smallint"
    if t in {"decimal", "numeric"}:
        return f"decimal({column.precision},{column.scale})"
    if t == "money":
        return "decimal(19,4)"
    if t == "smallmoney":
        return "decimal(10,4)"
    if t in _TIMESTAMP_TYPES:
        return "timestamp_ntz"
    if t == "datetimeoffset":
        return "timestamp"
    if t == "rowversion":
        return "bigint"
    if t in _STRING_TYPES | {"time", "uniqueidentifier", "xml", "hierarchyid", "geography", "geometry", "sql_variant"}:
        return "string"
    if t in _BINARY_TYPES:
        return "binary"
    raise UnsupportedTypeError(
        f"column {column.name!r} has type {column.engine_type or t!r}, which the type mapping does not cover"
    )


def output_columns(column: SourceColumn, dialect: Dialect, qualifier: str | None = None) -> list[OutputColumn]:
    """The DataFrame column(s) for one source column (two for ``datetimeoffset``)."""
    ref = dialect.column(column.name, qualifier)
    t = column.sql_type
    spark_type = spark_type_of(column)
    if t == "datetimeoffset":
        return [
            OutputColumn(column.name, dialect.offset_instant_micros(ref), "timestamp", finish="instant_from_micros"),
            OutputColumn(column.name + OFFSET_SUFFIX, dialect.offset_minutes(ref), "int"),
        ]
    if t in _TIMESTAMP_TYPES:
        return [OutputColumn(column.name, dialect.datetime_micros(ref, column), spark_type, finish="ntz_from_micros")]
    if t == "date":
        return [OutputColumn(column.name, dialect.date_days(ref), spark_type, finish="date_from_days")]
    if t == "tinyint":
        expr = dialect.cast(ref, "smallint")
    elif t == "money":
        expr = dialect.cast(ref, "decimal(19,4)")
    elif t == "smallmoney":
        expr = dialect.cast(ref, "decimal(10,4)")
    elif t == "rowversion":
        expr = dialect.to_bigint(ref)
    elif t == "uniqueidentifier":
        expr = dialect.uuid_string(ref)
    elif t == "time":
        expr = dialect.time_string(ref)
    elif t in {"xml", "hierarchyid", "geography", "geometry", "sql_variant"}:
        expr = dialect.special_string(ref, t)
    else:
        expr = ref
    return [OutputColumn(column.name, expr, spark_type)]


def output_columns_for(
    columns: list[SourceColumn], dialect: Dialect, qualifier: str | None = None
) -> list[OutputColumn]:
    out: list[OutputColumn] = []
    for column in columns:
        out.extend(output_columns(column, dialect, qualifier))
    return out


def positional_alias(index: int) -> str:
    return f"c{index}"


def select_list(outputs: list[OutputColumn], dialect: Dialect) -> str:
    """``expr AS c0, expr AS c1, ...`` for the source query."""
    return ", ".join(f"{o.select_sql} AS {dialect.quote(positional_alias(i))}" for i, o in enumerate(outputs))


def finish_frame(df: DataFrame, outputs: list[OutputColumn]) -> DataFrame:
    """Rename the positional columns to the real names and give each its mapped Spark type."""
    columns: list[Column] = []
    for i, o in enumerate(outputs):
        columns.append(finish_value(F.col(positional_alias(i)), o).alias(o.name))
    return df.select(*columns)


_EPOCH_NTZ = "TIMESTAMP_NTZ '1970-01-01 00:00:00'"
_ONE_MICROSECOND = "INTERVAL '0.000001' SECOND"


def finish_value(raw: Column, output: OutputColumn) -> Column:
    if output.finish == "ntz_from_micros":
        # Interval arithmetic on a TIMESTAMP_NTZ: exact integers, no time zone anywhere.
        return F.expr(_EPOCH_NTZ) + raw.cast("bigint") * F.expr(_ONE_MICROSECOND)
    if output.finish == "instant_from_micros":
        return F.timestamp_micros(raw.cast("bigint"))
    if output.finish == "date_from_days":
        return F.date_from_unix_date(raw.cast("int"))
    return raw.cast(output.spark_type)
