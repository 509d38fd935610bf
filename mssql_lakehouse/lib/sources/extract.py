"""The extraction modes, shared by SQL Server and the demo.

Every mode builds the same three things - a relation (the FROM clause), window
predicates and a select list - then :func:`run_extraction` counts the window
and computes the split bounds with one control query, and reads the window into
Spark over JDBC with the same relation and predicates. Only spellings come from
the dialect.

Windows are half-open, ``[lower, upper)``, so consecutive windows neither
overlap nor leave gaps; CDC LSN ranges are closed ``[from_lsn, to_lsn]`` as in
SQL Server's CDC functions, with ``to_lsn`` the largest LSN committed before the
window's end.

An expired position (CDC cleanup or change tracking retention has removed
changes the caller has not read yet) raises :class:`PositionExpiredError`; it
is never skipped.

CDC reads the change table ``cdc.<capture_instance>_CT`` directly, joined to
``cdc.lsn_time_mapping`` for the commit time, rather than calling
``cdc.fn_cdc_get_all_changes_<ci>(from, to, 'all update old')``:

* the rows are the same (``'all update old'`` returns every row of ``_CT``
  between the two LSNs, both update images included), and ``__$seqval``,
  ``__$update_mask`` and ``__$command_id`` come along;
* one query shape for SQL Server and the demo, whose change tables are laid out
  the same way and which has no such function;
* the function answers an out-of-range LSN with the opaque error 313; we check
  the range ourselves first and raise :class:`CdcPositionExpiredError` naming
  the capture instance;
* Spark can split the read on a captured key column, which a table-valued
  function call in ``dbtable`` also allows, but the direct read lets the
  bounds query use the same relation.

The cost: reading ``_CT`` needs SELECT on the ``cdc`` schema (the function checks
the capture instance's gating role instead), and Microsoft documents the
functions, not the tables, as the interface.

A CDC time window is refused as expired when ``from_lsn < sys.fn_cdc_get_min_lsn``
or when cleanup has moved the low endpoint past the window start and a commit
still on record between the start and the low endpoint shows that changes in
the window may be gone (see :func:`plan_cdc`). It is refused as not yet closed
(:class:`ChangeWindowNotClosedError`) while the capture process has not
harvested past the window end, so a run never records a window as done before
its changes are in the change table.
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from mssql_lakehouse.lib.io.compilation import compiled_if_large
from mssql_lakehouse.lib.sources.control import ControlSession
from mssql_lakehouse.lib.sources.dialects import Dialect
from mssql_lakehouse.lib.sources.errors import (
    CdcPositionExpiredError,
    ChangeTrackingVersionExpiredError,
    ChangeWindowNotClosedError,
    SourceConfigError,
    SourceConnectionError,
)
from mssql_lakehouse.lib.sources.planning import SplitPlan, plan_split
from mssql_lakehouse.lib.sources.positions import (
    is_null_lsn,
    lsn_bytes,
    lsn_hex,
    to_source_time,
    to_utc_naive,
)
from mssql_lakehouse.lib.sources.reconcile import ReconciliationFigures, normalise_sum, summable
from mssql_lakehouse.lib.sources.redaction import register_spark_secrets
from mssql_lakehouse.lib.sources.spec import ExtractionMode, TableSource
from mssql_lakehouse.lib.sources.sql_text import Param, Sql
from mssql_lakehouse.lib.sources.type_mapping import (
    OutputColumn,
    SourceColumn,
    finish_frame,
    output_columns,
    positional_alias,
    select_list,
)

log = logging.getLogger(__name__)

CDC_START_LSN = "__$start_lsn"
CDC_SEQVAL = "__$seqval"
CDC_OPERATION = "__$operation"
CDC_UPDATE_MASK = "__$update_mask"
CDC_COMMAND_ID = "__$command_id"
CDC_COMMIT_TIME = "__$tran_end_time"
CDC_ORDER = (CDC_START_LSN, CDC_SEQVAL, CDC_OPERATION)
"""Sort by these to get the changes in commit order (as SQL Server applies them)."""

CT_VERSION = "SYS_CHANGE_VERSION"
CT_CREATION_VERSION = "SYS_CHANGE_CREATION_VERSION"
CT_OPERATION = "SYS_CHANGE_OPERATION"

_SRC = "src"
_CT = "ct"
_MAP = "m"


@dataclass(frozen=True)
class ReadSettings:
    """How a source is read; from the resource's configuration."""

    fetch_size: int = 10_000
    target_rows_per_partition: int = 500_000
    max_partitions: int = 4
    time_zone: str = "UTC"


@dataclass(frozen=True)
class SourceQuery:
    """What one extraction reads: ``SELECT outputs FROM relation WHERE predicates``."""

    relation: Sql
    predicates: tuple[Sql, ...]
    outputs: tuple[OutputColumn, ...]
    split_expr: str | None = None
    split_alias: str | None = None
    sums: tuple[tuple[str, str], ...] = ()  # (output name, SQL expression of an exact decimal)

    def where(self) -> Sql:
        if not self.predicates:
            return Sql("")
        return Sql(" WHERE ", Sql.join(" AND ", (Sql("(", p, ")") for p in self.predicates)))

    def select(self, dialect: Dialect) -> Sql:
        return Sql(f"SELECT {select_list(list(self.outputs), dialect)} FROM ", self.relation, self.where())

    def figures(self, dialect: Dialect) -> Sql:
        """Count, split bounds and reconciliation sums over the same window, in one query."""
        items = [dialect.count_rows()]
        if self.split_expr:
            items += [f"MIN({self.split_expr})", f"MAX({self.split_expr})"]
        items += [f"SUM({expr})" for _, expr in self.sums]
        return Sql(f"SELECT {', '.join(items)} FROM ", self.relation, self.where())


@dataclass(frozen=True)
class Extraction:
    """The result of one extraction: a lazy DataFrame and where it came from.

    ``next_position`` is what the next incremental run starts from (rowversion:
    the exclusive upper bound read; CDC: the LSN after which to continue, as hex;
    change tracking: the version to pass as ``last_sync_version``); assets record
    it in their materialization metadata.
    """

    df: DataFrame
    table: TableSource
    mode: ExtractionMode
    lower: Any = None
    upper: Any = None
    next_position: Any = None
    source_figures: ReconciliationFigures = field(default_factory=lambda: ReconciliationFigures(0))
    num_partitions: int = 1
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def source_row_count(self) -> int:
        return self.source_figures.row_count

    def compiled_if_large(self, spark: SparkSession) -> AbstractContextManager[bool]:
        """Run the block's queries with compiled expressions if the source counted more rows than
        interpreted expressions are fast for (``lib/io/compilation.py``). An asset lands its
        extraction (the read, its reconciliation figures) in this block; the IO manager decides
        for the write by the output's ``output_rows``."""
        return compiled_if_large(spark, self.df, self.source_row_count)

    def metadata(self) -> dict[str, Any]:
        """Plain values for Dagster output metadata (no secrets, no SQL values)."""
        out: dict[str, Any] = {
            "source_table": self.table.name,
            "extraction_mode": self.mode.value,
            "window_lower": _show(self.lower),
            "window_upper": _show(self.upper),
            "next_position": _show(self.next_position),
            "jdbc_partitions": self.num_partitions,
            **self.source_figures.to_metadata(),
            **{k: _show(v) for k, v in self.details.items()},
        }
        return out


def _show(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return lsn_hex(bytes(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


# -- select lists ---------------------------------------------------------------------------


def _choose_columns(table: TableSource, columns: list[SourceColumn]) -> list[SourceColumn]:
    if table.columns is None:
        return columns
    by_name = {c.name: c for c in columns}
    missing = [c for c in table.columns if c not in by_name]
    if missing:
        raise SourceConfigError(f"{table.name} has no column(s) {missing}")
    return [by_name[c] for c in table.columns]


def _find(columns: list[SourceColumn], name: str, table: TableSource, role: str) -> SourceColumn:
    for c in columns:
        if c.name == name:
            return c
    raise SourceConfigError(f"{table.name}: {role} {name!r} is not a column of the table")


def _outputs(columns: list[SourceColumn], dialect: Dialect, qualifiers: dict[str, str] | str) -> list[OutputColumn]:
    out: list[OutputColumn] = []
    for c in columns:
        qualifier = qualifiers if isinstance(qualifiers, str) else qualifiers[c.name]
        out.extend(output_columns(c, dialect, qualifier))
    return out


def _split(
    table: TableSource,
    columns: list[SourceColumn],
    outputs: list[OutputColumn],
    dialect: Dialect,
    qualifier: str,
) -> tuple[str | None, str | None]:
    """SQL expression and positional alias of the split key, if the table has one."""
    if not table.split_column:
        return None, None
    column = _find(columns, table.split_column, table, "split_column")
    if not (column.is_integer or column.sql_type == "rowversion"):
        raise SourceConfigError(
            f"{table.name}: split_column {column.name!r} is {column.sql_type}; splits need an integer column"
        )
    index = next(i for i, o in enumerate(outputs) if o.name == column.name)
    expr = dialect.column(column.name, qualifier)
    if column.sql_type == "rowversion":
        expr = dialect.to_bigint(expr)
    return expr, positional_alias(index)


def _sums(
    table: TableSource, columns: list[SourceColumn], dialect: Dialect, qualifiers: dict[str, str] | str
) -> tuple[tuple[str, str], ...]:
    wanted = list(dict.fromkeys([*table.key_columns, *table.reconcile_columns]))
    out = []
    for name in wanted:
        column = _find(columns, name, table, "reconcile column")
        if not summable(column):
            if name in table.reconcile_columns:
                raise SourceConfigError(f"{table.name}: reconcile column {name!r} is not numeric")
            continue
        qualifier = qualifiers if isinstance(qualifiers, str) else qualifiers[name]
        expr = dialect.cast(dialect.column(name, qualifier), "decimal(38,4)")
        out.append((name, expr))
    return tuple(out)


# -- the modes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A mode's decision: the query, the window it covers and the position after it."""

    query: SourceQuery
    lower: Any = None
    upper: Any = None
    next_position: Any = None
    details: dict[str, Any] = field(default_factory=dict)


def _table_query(
    session: ControlSession,
    table: TableSource,
    relation: Sql,
    predicates: list[Sql],
    columns: list[SourceColumn],
) -> SourceQuery:
    dialect = session.dialect
    chosen = _choose_columns(table, columns)
    outputs = _outputs(chosen, dialect, _SRC)
    split_expr, split_alias = _split(table, chosen, outputs, dialect, _SRC)
    return SourceQuery(
        relation=relation,
        predicates=tuple(predicates),
        outputs=tuple(outputs),
        split_expr=split_expr,
        split_alias=split_alias,
        sums=_sums(table, chosen, dialect, _SRC),
    )


def plan_snapshot(
    session: ControlSession, table: TableSource, as_of: dt.datetime | None, settings: ReadSettings
) -> Plan:
    """The whole table, or its state ``AS OF`` a time (temporal tables; period columns are UTC)."""
    dialect = session.dialect
    columns = session.table_columns(table.schema, table.table)
    if as_of is None:
        relation = Sql(f"{dialect.table(table.schema, table.table)} AS {dialect.quote(_SRC)}")
        return Plan(_table_query(session, table, relation, [], columns))
    at = to_utc_naive(as_of, settings.time_zone)
    for period in table.period_columns:
        _find(columns, period, table, "period column")
    relation, predicates = dialect.as_of_relation(
        table.schema,
        table.table,
        at,
        [c.name for c in columns],
        table.period_columns,
        table.temporal_history_table,
    )
    return Plan(_table_query(session, table, relation, predicates, columns), upper=at, details={"as_of_utc": at})


def plan_watermark(
    session: ControlSession, table: TableSource, start: dt.datetime, end: dt.datetime, settings: ReadSettings
) -> Plan:
    """Rows with ``start <= watermark < end`` (times converted to the source's clock)."""
    dialect = session.dialect
    lower, upper = to_source_time(start, settings.time_zone), to_source_time(end, settings.time_zone)
    if not lower < upper:
        raise SourceConfigError(f"{table.name}: empty or inverted window [{lower}, {upper})")
    columns = session.table_columns(table.schema, table.table)
    assert table.watermark_column
    wm = _find(columns, table.watermark_column, table, "watermark_column")
    if wm.sql_type not in {"datetime2", "datetime", "smalldatetime", "date"}:
        raise SourceConfigError(
            f"{table.name}: watermark_column {wm.name!r} is {wm.sql_type}; use a datetime2 column "
            "(or rowversion mode for a rowversion column)"
        )
    ref = dialect.column(wm.name, _SRC)
    predicates = [Sql(f"{ref} >= ", Param(lower)), Sql(f"{ref} < ", Param(upper))]
    relation = Sql(f"{dialect.table(table.schema, table.table)} AS {dialect.quote(_SRC)}")
    return Plan(_table_query(session, table, relation, predicates, columns), lower=lower, upper=upper)


def plan_rowversion(session: ControlSession, table: TableSource, since: int | None, settings: ReadSettings) -> Plan:
    """Rows with ``since <= CAST(rowversion AS bigint) < upper``; upper comes from the source."""
    dialect = session.dialect
    columns = session.table_columns(table.schema, table.table)
    assert table.rowversion_column
    rv = _find(columns, table.rowversion_column, table, "rowversion_column")
    if rv.sql_type not in {"rowversion", "bigint", "binary"}:
        raise SourceConfigError(f"{table.name}: rowversion_column {rv.name!r} is {rv.sql_type}")
    lower = int(since or 0)
    upper = session.scalar(dialect.rowversion_upper_sql(table.schema, table.table, rv.name))
    upper = int(upper)
    ref = dialect.to_bigint(dialect.column(rv.name, _SRC))
    predicates = [Sql(f"{ref} >= ", Param(lower)), Sql(f"{ref} < ", Param(upper))]
    relation = Sql(f"{dialect.table(table.schema, table.table)} AS {dialect.quote(_SRC)}")
    return Plan(
        _table_query(session, table, relation, predicates, columns),
        lower=lower,
        upper=upper,
        next_position=upper,
    )


@dataclass(frozen=True)
class CaptureInstanceInfo:
    name: str
    source_schema: str
    source_table: str
    create_date: dt.datetime | None
    min_lsn: bytes
    max_lsn: bytes | None


def capture_instance_info(session: ControlSession, capture_instance: str) -> CaptureInstanceInfo:
    dialect = session.dialect
    row = session.row(dialect.cdc_instance_sql, [capture_instance])
    min_lsn = session.scalar(dialect.cdc_min_lsn_sql, [capture_instance])
    if row is None or is_null_lsn(min_lsn):
        raise SourceConfigError(
            f"capture instance {capture_instance!r} does not exist in {dialect.settings.database}, "
            "has no low endpoint yet, or the login may not read it"
        )
    max_lsn = session.scalar(dialect.cdc_max_lsn_sql)
    return CaptureInstanceInfo(
        name=capture_instance,
        source_schema=row[0],
        source_table=row[1],
        create_date=row[2],
        min_lsn=bytes(min_lsn),
        max_lsn=None if is_null_lsn(max_lsn) else bytes(max_lsn),
    )


def snapshot_position(session: ControlSession, info: CaptureInstanceInfo) -> tuple[bytes, dt.datetime]:
    """The LSN a full read of the capture instance's table starts at, and its commit time.

    The snapshot shows the table as of this LSN or later; its commit time places it in time.
    """
    lsn = info.max_lsn or info.min_lsn
    return lsn, session.scalar(session.dialect.cdc_lsn_time_sql, [lsn]) or info.create_date


def _lsn_add_one(lsn: bytes) -> bytes:
    return (int.from_bytes(lsn, "big") + 1).to_bytes(len(lsn), "big")


def _full_refresh_hint(table: TableSource) -> str:
    return (
        f"Run a full refresh of {table.name}: MssqlSource.extract(..., full_refresh=True) re-reads the "
        "whole table and returns the position to resume incremental loads from (in Dagster: materialize "
        "the asset with its full-refresh config)."
    )


def plan_cdc(
    session: ControlSession,
    table: TableSource,
    settings: ReadSettings,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    from_lsn: bytes | str | None = None,
    to_lsn: bytes | str | None = None,
    require_closed_window: bool = True,
) -> Plan:
    """The change rows of the table's capture instance for a time window or an LSN range.

    A time window ``[start, end)`` becomes ``[smallest LSN committed at or after
    start, largest LSN committed before end]``. An LSN range is closed
    ``[from_lsn, to_lsn]``; ``to_lsn`` defaults to the current maximum LSN.
    """
    dialect = session.dialect
    ci = table.cdc_capture_instance
    info = capture_instance_info(session, ci)
    details: dict[str, Any] = {"capture_instance": ci, "min_lsn": info.min_lsn, "max_lsn": info.max_lsn}
    empty = False
    if start is not None or end is not None:
        if start is None or end is None or from_lsn is not None or to_lsn is not None:
            raise SourceConfigError(f"{table.name}: give CDC either a time window (start, end) or an LSN range")
        lower, upper = to_source_time(start, settings.time_zone), to_source_time(end, settings.time_zone)
        if not lower < upper:
            raise SourceConfigError(f"{table.name}: empty or inverted window [{lower}, {upper})")
        if require_closed_window:
            captured_until = session.scalar(dialect.cdc_captured_until_sql)
            if captured_until is None or captured_until < upper:
                raise ChangeWindowNotClosedError(
                    f"capture instance {ci} ({table.name}): the capture process has recorded commits up to "
                    f"{captured_until}, before the window end {upper}; changes in the window may not be in "
                    "the change table yet. Retry once the capture job has caught up."
                )
        first = session.scalar(dialect.cdc_lsn_at_or_after_sql, [lower])
        last = session.scalar(dialect.cdc_lsn_before_sql, [upper])
        low_time = session.scalar(dialect.cdc_lsn_time_sql, [info.min_lsn])
        details.update(window_start=lower, window_end=upper, low_endpoint_time=low_time)
        # Cleanup removes every change below the low endpoint (min LSN). Mapping-based
        # LSNs cannot show that: the removed commits' mapping rows may be gone too. So,
        # when the low endpoint has moved (it is later than the instance's creation)
        # and was committed after the window start, the window is complete only if the
        # last commit still on record before the low endpoint is before the start.
        moved = low_time is not None and (info.create_date is None or low_time > info.create_date)
        cleaned_past_start = False
        if moved and lower < low_time:
            before_low = session.scalar(dialect.cdc_time_before_lsn_sql, [info.min_lsn])
            cleaned_past_start = before_low is None or before_low >= lower
        if (not is_null_lsn(first) and bytes(first) < info.min_lsn) or cleaned_past_start:
            raise CdcPositionExpiredError(
                f"capture instance {ci} ({table.name}): the window starting {lower} is older than the oldest "
                f"change CDC still keeps (low endpoint {lsn_hex(info.min_lsn)} committed {low_time}); cleanup "
                f"has removed changes in it. {_full_refresh_hint(table)}"
            )
        if is_null_lsn(first) or is_null_lsn(last) or bytes(first) > bytes(last):
            empty = True
            lo_lsn = None if is_null_lsn(first) else bytes(first)
            hi_lsn = None if is_null_lsn(last) else bytes(last)
        else:
            lo_lsn, hi_lsn = bytes(first), bytes(last)
    else:
        if from_lsn is None:
            raise SourceConfigError(f"{table.name}: CDC needs a time window or a from_lsn. {_full_refresh_hint(table)}")
        lo_lsn = lsn_bytes(from_lsn)
        hi_lsn = lsn_bytes(to_lsn) if to_lsn is not None else info.max_lsn
        if lo_lsn < info.min_lsn:
            raise CdcPositionExpiredError(
                f"capture instance {ci} ({table.name}): from_lsn {lsn_hex(lo_lsn)} is below the minimum LSN "
                f"{lsn_hex(info.min_lsn)} (sys.fn_cdc_get_min_lsn); CDC cleanup has removed changes not yet "
                f"read. {_full_refresh_hint(table)}"
            )
        empty = hi_lsn is None or lo_lsn > hi_lsn

    source_columns = {c.name: c for c in session.table_columns(info.source_schema, info.source_table)}
    ct_columns = session.table_columns("cdc", f"{ci}_CT")
    # Captured columns get their source table's type (a rowversion is binary(8) in _CT).
    captured = [source_columns.get(c.name, c) for c in ct_columns if not c.name.startswith("__$")]
    captured = _choose_columns(table, captured)
    meta = [
        SourceColumn(CDC_START_LSN, "binary"),
        SourceColumn(CDC_SEQVAL, "binary"),
        SourceColumn(CDC_OPERATION, "int"),
        SourceColumn(CDC_UPDATE_MASK, "varbinary"),
    ]
    if any(c.name == CDC_COMMAND_ID for c in ct_columns):
        meta.append(SourceColumn(CDC_COMMAND_ID, "int"))
    outputs = _outputs(meta + captured, dialect, _CT)
    commit_time = output_columns(SourceColumn("tran_end_time", "datetime"), dialect, _MAP)[0]
    commit_time = replace(commit_time, name=CDC_COMMIT_TIME)
    outputs.insert(len(meta), commit_time)
    relation = Sql(
        f"{dialect.cdc_change_table(ci)} AS {dialect.quote(_CT)} LEFT JOIN {dialect.cdc_lsn_time_mapping()} "
        f"AS {dialect.quote(_MAP)} ON {dialect.column('start_lsn', _MAP)} = {dialect.column(CDC_START_LSN, _CT)}"
    )
    lsn_ref = dialect.column(CDC_START_LSN, _CT)
    if empty:
        predicates = [Sql("1 = 0")]
    else:
        predicates = [Sql(f"{lsn_ref} >= ", Param(lo_lsn)), Sql(f"{lsn_ref} <= ", Param(hi_lsn))]
    split_expr, split_alias = _split(table, captured, outputs, dialect, _CT) if table.split_column else (None, None)
    query = SourceQuery(
        relation=relation,
        predicates=tuple(predicates),
        outputs=tuple(outputs),
        split_expr=split_expr,
        split_alias=split_alias,
        sums=_sums(_without_missing(table, captured), captured, dialect, _CT),
    )
    if hi_lsn is not None and not empty:
        next_from = _lsn_add_one(hi_lsn)
    elif lo_lsn is not None:
        next_from = lo_lsn
    else:
        next_from = _lsn_add_one(info.max_lsn) if info.max_lsn else info.min_lsn
    return Plan(query, lower=lo_lsn, upper=hi_lsn, next_position=lsn_hex(next_from), details=details)


def _without_missing(table: TableSource, columns: list[SourceColumn]) -> TableSource:
    """The spec with reconcile/key columns limited to those captured by CDC."""
    names = {c.name for c in columns}
    return replace(
        table,
        key_columns=tuple(k for k in table.key_columns if k in names),
        reconcile_columns=tuple(k for k in table.reconcile_columns if k in names),
        columns=None,
        mode=ExtractionMode.SNAPSHOT,
    )


def change_tracking_versions(session: ControlSession, table: TableSource) -> tuple[int, int]:
    """(current version of the database, min valid version of the table)."""
    dialect = session.dialect
    current = session.scalar(dialect.ct_current_version_sql)
    if current is None:
        raise SourceConfigError(f"change tracking is not enabled on database {dialect.settings.database}")
    sql, params = dialect.ct_min_valid_version_query(table.schema, table.table)
    min_valid = session.scalar(sql, params)
    if min_valid is None:
        raise SourceConfigError(f"change tracking is not enabled on table {table.name}")
    return int(current), int(min_valid)


def plan_change_tracking(
    session: ControlSession, table: TableSource, last_sync_version: int | None, settings: ReadSettings
) -> Plan:
    """Net changes since ``last_sync_version`` up to the current version, with current row values.

    Keys come from the change table, other columns from a left join to the
    table, so deletes arrive with their key and NULLs elsewhere.
    """
    dialect = session.dialect
    if last_sync_version is None:
        raise SourceConfigError(
            f"{table.name}: change tracking needs the version saved by the previous run. " + _full_refresh_hint(table)
        )
    current, min_valid = change_tracking_versions(session, table)
    if int(last_sync_version) < min_valid:
        raise ChangeTrackingVersionExpiredError(
            f"{table.name}: the last sync version {last_sync_version} is below the table's "
            f"CHANGE_TRACKING_MIN_VALID_VERSION {min_valid}; change tracking retention has removed changes "
            f"not yet read. {_full_refresh_hint(table)}"
        )
    columns = session.table_columns(table.schema, table.table)
    chosen = _choose_columns(table, columns)
    for key in table.key_columns:
        _find(columns, key, table, "key column")
    meta = [
        SourceColumn(CT_VERSION, "bigint"),
        SourceColumn(CT_CREATION_VERSION, "bigint"),
        SourceColumn(CT_OPERATION, "nchar"),
    ]
    qualifiers = {c.name: (_CT if c.name in table.key_columns else _SRC) for c in chosen}
    qualifiers.update({c.name: _CT for c in meta})
    outputs = _outputs(meta + chosen, dialect, qualifiers)
    join = " AND ".join(f"{dialect.column(k, _SRC)} = {dialect.column(k, _CT)}" for k in table.key_columns)
    relation = Sql(
        dialect.ct_changes_relation(table.schema, table.table, int(last_sync_version)),
        f" LEFT JOIN {dialect.table(table.schema, table.table)} AS {dialect.quote(_SRC)} ON {join}",
    )
    predicates = [Sql(f"{dialect.column(CT_VERSION, _CT)} <= ", Param(current))]
    split_expr = split_alias = None
    if table.split_column:
        split_qualifier = qualifiers.get(table.split_column, _SRC)
        split_expr, split_alias = _split(table, chosen, outputs, dialect, split_qualifier)
    query = SourceQuery(
        relation=relation,
        predicates=tuple(predicates),
        outputs=tuple(outputs),
        split_expr=split_expr,
        split_alias=split_alias,
        sums=_sums(table, chosen, dialect, qualifiers),
    )
    return Plan(
        query,
        lower=int(last_sync_version),
        upper=current,
        next_position=current,
        details={"min_valid_version": min_valid},
    )


def plan_full_refresh(session: ControlSession, table: TableSource, settings: ReadSettings) -> Plan:
    """A snapshot, plus the position incremental loads resume from (read before the snapshot,
    so a change racing the snapshot is read again rather than lost)."""
    dialect = session.dialect
    position: Any = None
    details: dict[str, Any] = {"full_refresh": True}
    if table.mode is ExtractionMode.CDC:
        info = capture_instance_info(session, table.cdc_capture_instance)
        position = lsn_hex(_lsn_add_one(info.max_lsn) if info.max_lsn else info.min_lsn)
        details["snapshot_lsn"], details["snapshot_lsn_time"] = snapshot_position(session, info)
    elif table.mode is ExtractionMode.CHANGE_TRACKING:
        position, _ = change_tracking_versions(session, table)
    elif table.mode is ExtractionMode.ROWVERSION:
        assert table.rowversion_column
        position = int(session.scalar(dialect.rowversion_upper_sql(table.schema, table.table, table.rowversion_column)))
    snapshot = plan_snapshot(session, table, None, settings)
    return Plan(snapshot.query, next_position=position, details=details)


# -- reading --------------------------------------------------------------------------------


def source_figures(session: ControlSession, query: SourceQuery) -> tuple[ReconciliationFigures, Any, Any]:
    """(figures, split min, split max) of the query's window, from one control query."""
    sql, params = query.figures(session.dialect).dbapi()
    row = session.row(sql, params) or (0,)
    values = list(row)
    count = int(values.pop(0) or 0)
    low = high = None
    if query.split_expr:
        low, high = values.pop(0), values.pop(0)
    sums = {name: normalise_sum(value) for (name, _), value in zip(query.sums, values, strict=False)}
    return ReconciliationFigures(count, sums), low, high


def read_jdbc(
    spark: SparkSession,
    dialect: Dialect,
    sql: str,
    split: SplitPlan | None,
    settings: ReadSettings,
) -> DataFrame:
    """Spark's JDBC reader over ``(sql) AS q``; ``partitionColumn`` cannot go with ``query``, hence ``dbtable``.

    Its secrets are registered for redaction first: the reader fails at ``.load()`` (connecting)
    or later, when an action reads the rows.
    """
    register_spark_secrets(dialect.settings.secrets)
    reader = (
        spark.read.format("jdbc")
        .option("url", dialect.jdbc_url())
        .option("driver", dialect.jdbc_driver)
        .option("dbtable", f"({sql}) AS {dialect.quote('q')}")
        .option("fetchsize", str(settings.fetch_size))
        # datetime2 lands as TIMESTAMP_NTZ: the wall-clock value, no session time zone applied.
        .option("preferTimestampNTZ", "true")
    )
    for key, value in dialect.jdbc_properties().items():
        reader = reader.option(key, value)
    if split is not None:
        for key, value in split.options().items():
            reader = reader.option(key, value)
    try:
        return reader.load()
    except Exception as exc:  # the error's text has no secret left (see register_spark_secrets)
        raise SourceConnectionError(f"JDBC read from {dialect.settings.database} failed: {str(exc)[:4000]}") from None


def run_extraction(
    spark: SparkSession,
    session: ControlSession,
    table: TableSource,
    mode: ExtractionMode,
    plan: Plan,
    settings: ReadSettings,
) -> Extraction:
    dialect = session.dialect
    query = plan.query
    figures, low, high = source_figures(session, query)
    split = plan_split(
        query.split_alias,
        figures.row_count,
        low,
        high,
        settings.target_rows_per_partition,
        settings.max_partitions,
    )
    sql = query.select(dialect).inline(dialect)
    log.info(
        "Extracting %s (%s) from %s: %d rows in %d JDBC partition(s)",
        table.name,
        mode.value,
        dialect.settings.database,
        figures.row_count,
        split.num_partitions if split else 1,
    )
    raw = read_jdbc(spark, dialect, sql, split, settings)
    df = finish_frame(raw, list(query.outputs))
    return Extraction(
        df=df,
        table=table,
        mode=mode,
        lower=plan.lower,
        upper=plan.upper,
        next_position=plan.next_position,
        source_figures=figures,
        num_partitions=split.num_partitions if split else 1,
        details=plan.details,
    )
