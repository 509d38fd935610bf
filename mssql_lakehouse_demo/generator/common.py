"""What every simulated table shares: the volumes, the pseudo-random draws, the demo server's clock, running SQL.

Every pseudo-random choice is :func:`uniform` of a salt, the day and a row key, so a day's rows
depend only on what the previous days left; the clock macros of :func:`define_clock` put every
generated time on the wall clock of the business day's zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from mssql_lakehouse_demo import db
from mssql_lakehouse_demo.schema import Table

GENERATOR_VERSION = "1"


class SeedError(ValueError):
    """The requested days or settings do not fit the demo folder as it is."""


@dataclass(frozen=True)
class Volumes:
    """Row counts per simulated day for a scale."""

    scale: float

    @property
    def orders(self) -> int:
        return max(1, round(25_000 * self.scale))

    @property
    def late_orders(self) -> int:
        return max(1, round(self.orders * 0.02))

    @property
    def products(self) -> int:
        return max(50, round(1_000 * self.scale))

    @property
    def customers(self) -> int:
        return max(200, round(20_000 * self.scale))

    @property
    def journals(self) -> int:
        return max(3, round(500 * self.scale))

    @property
    def bad_lines_each(self) -> int:
        return max(1, round((self.orders + self.late_orders) * 4 * 0.0005))

    @property
    def bad_journals_each(self) -> int:
        return max(1, round(self.journals * 0.002))

    @property
    def customer_inserts(self) -> int:
        return max(1, round(60 * self.scale))

    @property
    def customer_updates(self) -> int:
        return max(2, round(150 * self.scale))

    @property
    def customer_deletes(self) -> int:
        return max(1, round(10 * self.scale))

    @property
    def customer_reinserts(self) -> int:
        return max(1, round(2 * self.scale))

    @property
    def price_changes(self) -> int:
        return max(1, round(self.products * 0.005))


_TWO_TO_64 = "18446744073709551616.0"


def uniform(salt: str, *keys: str) -> str:
    """A pseudo-random DOUBLE in [0, 1) keyed by a salt and SQL key expressions."""
    return f"(hash('{salt}', {', '.join(keys)})::DOUBLE / {_TWO_TO_64})"


def cube(u: str) -> str:
    """``u`` cubed by multiplication: skewed towards 0, and bit-identical on every platform,
    which ``pow``/``exp``/``ln`` (left to the C library) are not guaranteed to be."""
    return f"({u} * {u} * {u})"


def square(u: str) -> str:
    return f"({u} * {u})"


def pick(values: Sequence[str], u: str) -> str:
    """One of ``values`` chosen by the [0, 1) expression ``u``."""
    items = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"list_element([{items}], 1 + floor({u} * {len(values)})::INTEGER)"


def sql_date(day: dt.date) -> str:
    return f"DATE '{day.isoformat()}'"


def define_clock(con: duckdb.DuckDBPyConnection, time_zone: str) -> None:
    """SQL macros for the demo server's clock in ``time_zone`` (an IANA name, checked by the settings).

    ``erp_time(day, offset)``: the wall-clock time ``offset`` microseconds of a nominal 24-hour
    day into ``day``, the offset stretched to the day's real length (23, 24 or 25 hours), so
    the same fraction of every day is an existing moment of it. ``erp_utc(wall)``: a wall-clock
    time as UTC (for the temporal tables' period columns).
    """
    zone = db.sql_string(time_zone)
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP MACRO erp_midnight(day) AS timezone({zone}, CAST(day AS TIMESTAMP))
    """,
    )
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP MACRO erp_time(day, offset_micros) AS timezone({zone},
            erp_midnight(day) + to_microseconds(CAST(offset_micros AS BIGINT)
                * CAST(epoch(erp_midnight(day + 1)) - epoch(erp_midnight(day)) AS BIGINT) // 86400))
    """,
    )
    run(con, f"CREATE OR REPLACE TEMP MACRO erp_utc(wall) AS timezone('UTC', timezone({zone}, wall))")


def time_in_day(day_sql: str, u: str, lo_seconds: float, hi_seconds: float) -> str:
    """A wall-clock TIMESTAMP at microseconds between two offsets into a day, chosen by ``u``."""
    lo = int(lo_seconds * 1_000_000)
    span = int((hi_seconds - lo_seconds) * 1_000_000)
    return f"erp_time({day_sql}, {lo} + floor({u} * {span}))"


def row_uuid(table: str, *keys: str) -> str:
    """A stable rowguid for a row key."""
    return "md5(concat_ws(':', '" + table + "', " + ", ".join(keys) + "))::UUID"


def column_list(table: Table, alias: str | None = None) -> str:
    """The table's quoted columns in order, qualified by ``alias`` if given."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f'{prefix}"{c}"' for c in table.column_names)


def tx_end(begin: str, u: str, max_ms: int = 50) -> str:
    """When a transaction that began at ``begin`` commits: 0.2 ms plus up to ``max_ms`` ms later, chosen by ``u``."""
    return f"({begin} + to_microseconds(CAST(200 + floor({u} * {max_ms * 1000}) AS BIGINT)))"


def recorded_settings(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, str]:
    """The ``demo.settings`` of one attached database (its catalog is the file stem), or {}."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_catalog = ? AND table_schema = 'demo' AND table_name = 'settings'",
        [catalog],
    ).fetchone()[0]
    if not exists:
        return {}
    return dict(con.execute(f"SELECT name, value FROM {catalog}.demo.settings").fetchall())


def in_transaction(con: duckdb.DuckDBPyConnection, work: Callable[[], None]) -> None:
    con.execute("BEGIN")
    try:
        work()
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def run(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> None:
    con.execute(sql, params or [])


def one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return con.execute(sql).fetchone()[0]
