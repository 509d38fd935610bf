"""Seeding a demo folder day by day, and reading what it holds.

:func:`seed` checks the requested days against what each database file holds, then runs each
new day of each file in one transaction: the ERP's day (its tables in the order a day's
transactions need them) and each region's inventory day.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_demo import db
from mssql_lakehouse_demo.cdc import day_ordinal
from mssql_lakehouse_demo.generator.change_capture import (
    apply_changes,
    commit_order,
    create_staging,
    enable_change_capture,
)
from mssql_lakehouse_demo.generator.common import (
    GENERATOR_VERSION,
    SeedError,
    Volumes,
    define_clock,
    in_transaction,
    one,
    recorded_settings,
    run,
    sql_date,
)
from mssql_lakehouse_demo.generator.customers import create_customers, stage_customers
from mssql_lakehouse_demo.generator.finance import create_accounts, post_journals
from mssql_lakehouse_demo.generator.inventory import region_alias, seed_region_day
from mssql_lakehouse_demo.generator.products_and_forecasts import change_prices, create_products, plan_forecasts
from mssql_lakehouse_demo.generator.sales_orders import FIRST_SALES_ORDER_ID, stage_new_orders, stage_order_actions
from mssql_lakehouse_demo.schema import (
    CUSTOMER,
    DEFAULT_REGIONS,
    SALES_ORDER_DETAIL,
    SALES_ORDER_HEADER,
    erp_ddl,
    erp_path,
    inventory_path,
    validate_region,
)


@dataclass(frozen=True)
class SeedResult:
    demo_dir: Path
    seeded_days: tuple[dt.date, ...]
    """Days written to at least one database file by this call."""
    skipped_days: tuple[dt.date, ...]
    """Requested days every file already held."""
    seconds_per_day: dict[dt.date, float] = field(default_factory=dict)


def seed(
    demo_dir: Path,
    start: dt.date,
    days: int,
    scale: float,
    regions: Sequence[str] | None = None,
) -> SeedResult:
    """Create or extend the demo in ``demo_dir`` with the days ``start`` .. ``start + days - 1``.

    Days a file already holds are skipped; the first new day of each file must be the day
    after its last seeded day (no gaps, never backwards), else :class:`SeedError` before
    anything is written. ``scale``, ``regions`` and the clock's zone (``LAKEHOUSE_ERP_TIMEZONE``)
    are fixed when the folder is created (``regions=None`` means the recorded ones, or
    ``amer, emea, apac`` for a new folder).
    """
    if days < 1:
        raise SeedError(f"days must be at least 1, got {days}")
    if not (0 < scale <= 50):
        raise SeedError(f"scale must be in (0, 50], got {scale}")
    if start <= dt.date(1900, 1, 31):
        raise SeedError(f"start must be after 1900-01-31, got {start}")
    if regions is not None:
        regions = [validate_region(r) for r in regions]
        if not regions or len(set(regions)) != len(regions):
            raise SeedError(f"regions must be a non-empty list without repeats, got {regions}")
    demo_dir = Path(demo_dir)
    demo_dir.mkdir(parents=True, exist_ok=True)
    requested = [start + dt.timedelta(days=k) for k in range(days)]
    volumes = Volumes(scale)
    time_zone = LakehouseSettings.from_env().erp_timezone
    timings: dict[dt.date, float] = {}
    written: list[dt.date] = []

    with db.connect(erp_path(demo_dir)) as con:
        recorded = recorded_settings(con, "erp")
        if recorded:
            _check_same(recorded, scale, regions, time_zone)
            regions = recorded["regions"].split(",")
            first_day = dt.date.fromisoformat(recorded["first_day"])
        else:
            regions = list(regions or DEFAULT_REGIONS)
            first_day = start
        define_clock(con, time_zone)
        erp_days = _seeded_days(con, "erp") if recorded else []
        plan = {"erp": _new_days(erp_days, requested, "the demo ERP (erp.duckdb)", first_day)}
        for region in regions:
            alias = region_alias(region)
            path = inventory_path(demo_dir, region)
            if recorded and not path.exists():
                raise SeedError(
                    f"{path.name} is missing although the demo ERP holds {erp_days[0]} .. {erp_days[-1]}; "
                    "restore it or seed a fresh folder"
                )
            con.execute(f"ATTACH {db.sql_string(str(path))} AS {alias}")
            region_days = _seeded_days(con, alias) if recorded_settings(con, alias) else []
            plan[alias] = _new_days(region_days, requested, f"{alias}.duckdb", first_day)

        for day in requested:
            began = time.perf_counter()
            touched = False
            if day in plan["erp"]:
                in_transaction(con, lambda d=day: _seed_erp_day(con, d, volumes, regions, first_day, time_zone))
                touched = True
            for index, region in enumerate(regions):
                alias = region_alias(region)
                if day in plan[alias]:
                    in_transaction(con, lambda d=day, r=region, i=index: seed_region_day(con, d, r, i, first_day))
                    touched = True
            if touched:
                written.append(day)
                timings[day] = time.perf_counter() - began
    skipped = tuple(d for d in requested if d not in written)
    return SeedResult(demo_dir, tuple(written), skipped, timings)


def seeded_days(demo_dir: Path) -> list[dt.date]:
    """The days the demo ERP holds, in order (empty if the folder has no demo)."""
    path = erp_path(demo_dir)
    if not path.exists():
        return []
    with db.connect(path, read_only=True) as con:
        if not recorded_settings(con, "erp"):
            return []
        return _seeded_days(con, "erp")


def demo_settings(demo_dir: Path) -> dict[str, str]:
    """What the demo was created with: scale, regions, first_day, generator_version."""
    with db.connect(erp_path(demo_dir), read_only=True) as con:
        return recorded_settings(con, "erp")


def content_hashes(demo_dir: Path) -> dict[str, str]:
    """An md5 of every table's ordered content, keyed ``<database>.<schema>.<table>``."""
    return _per_table(
        demo_dir,
        "SELECT md5(coalesce(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR)), '')) FROM {} AS t",
    )


def table_counts(demo_dir: Path) -> dict[str, int]:
    """Row counts of every table, keyed ``<database>.<schema>.<table>``."""
    return _per_table(demo_dir, "SELECT count(*) FROM {}")


def _per_table(demo_dir: Path, query: str) -> dict[str, Any]:
    """``query`` (its ``{}`` the quoted table) on every table of every file, keyed ``<database>.<schema>.<table>``."""
    out: dict[str, Any] = {}
    for path in sorted(Path(demo_dir).glob("*.duckdb")):
        with db.connect(path, read_only=True) as con:
            tables = con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() ORDER BY ALL"
            ).fetchall()
            for schema, table in tables:
                (out[f"{path.stem}.{schema}.{table}"],) = con.execute(query.format(f'"{schema}"."{table}"')).fetchone()
    return out


def _seeded_days(con: duckdb.DuckDBPyConnection, catalog: str) -> list[dt.date]:
    return [r[0] for r in con.execute(f"SELECT day FROM {catalog}.demo.seeded_days ORDER BY day").fetchall()]


def recorded_time_zone(settings: Mapping[str, str]) -> str:
    """The zone of a demo server's clock, from its ``demo.settings``.

    Folders seeded before the zone was recorded ran on UTC.
    """
    return settings.get("time_zone", "UTC")


def _check_same(recorded: dict[str, str], scale: float, regions: Sequence[str] | None, time_zone: str) -> None:
    recorded_zone = recorded_time_zone(recorded)
    if recorded_zone != time_zone:
        raise SeedError(
            f"this demo's clock runs in {recorded_zone}, not LAKEHOUSE_ERP_TIMEZONE={time_zone}; extend it "
            "with the same LAKEHOUSE_ERP_TIMEZONE or seed a fresh folder"
        )
    if float(recorded["scale"]) != float(scale):
        raise SeedError(
            f"this demo was created with scale {recorded['scale']}; extend it with the same scale "
            "or seed a fresh folder"
        )
    if regions is not None and list(regions) != recorded["regions"].split(","):
        raise SeedError(
            f"this demo was created with regions {recorded['regions']}; extend it with the same "
            "regions (or none) or seed a fresh folder"
        )


def _new_days(seeded: list[dt.date], requested: list[dt.date], what: str, expected_first: dt.date) -> list[dt.date]:
    """The requested days still to seed in one file; raises on a gap or a step back."""
    held = set(seeded)
    new = [d for d in requested if d not in held]
    if not new:
        return []
    if not seeded:
        if new[0] != expected_first:
            raise SeedError(
                f"{what} holds no day yet and must start at the demo's first day {expected_first}, "
                f"not {new[0]}; restore the folder or seed a fresh one"
            )
        return new
    first, last = seeded[0], seeded[-1]
    if new[0] < first:
        raise SeedError(
            f"{what} holds {first} .. {last}; {new[0]} is before its first day and seeding only "
            "goes forward: use a fresh folder to start earlier"
        )
    if new[0] != last + dt.timedelta(days=1):
        raise SeedError(
            f"{what} holds {first} .. {last}; the next day to seed is {last + dt.timedelta(days=1)}, "
            f"not {new[0]}: seeding {new[0]} would leave a gap"
        )
    return new


def _create_erp(
    con: duckdb.DuckDBPyConnection, first_day: dt.date, v: Volumes, regions: Sequence[str], time_zone: str
) -> None:
    for stmt in erp_ddl():
        run(con, stmt)
    settings = {
        "scale": repr(float(v.scale)),
        "regions": ",".join(regions),
        "first_day": first_day.isoformat(),
        "generator_version": GENERATOR_VERSION,
        "time_zone": time_zone,
    }
    con.executemany("INSERT INTO demo.settings VALUES (?, ?)", sorted(settings.items()))
    con.executemany(
        "INSERT INTO demo.sequences VALUES (?, ?)",
        [
            ("SalesOrderID", FIRST_SALES_ORDER_ID - 1),
            ("SalesOrderDetailID", 0),
            ("CustomerID", v.customers),
            ("EntryID", 0),
            ("JournalID", 0),
        ],
    )
    create_products(con, first_day, v)
    create_customers(con, first_day, v)
    create_accounts(con, first_day)
    enable_change_capture(con, first_day)


def _seed_erp_day(
    con: duckdb.DuckDBPyConnection,
    day: dt.date,
    v: Volumes,
    regions: Sequence[str],
    first_day: dt.date,
    time_zone: str,
) -> None:
    if day == first_day:
        _create_erp(con, first_day, v, regions, time_zone)
    D = sql_date(day)
    dord = day_ordinal(day)
    seqs = dict(con.execute("SELECT name, last_value FROM demo.sequences").fetchall())

    # Who can buy and what sells, as of the start of the day.
    run(
        con,
        "CREATE OR REPLACE TEMP TABLE cust_rank AS "
        "SELECT CustomerID, row_number() OVER (ORDER BY CustomerID) - 1 AS rk FROM dbo.Customer",
    )
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE pop AS
        SELECT ProductID, ListPrice, row_number() OVER (ORDER BY hash('pop', ProductID), ProductID) - 1 AS rk
        FROM Production.Product
        WHERE SellStartDate <= {D} AND (SellEndDate IS NULL OR SellEndDate > {D})
        """,
    )
    n_cust = one(con, "SELECT count(*) FROM cust_rank")
    n_pop = one(con, "SELECT count(*) FROM pop")
    if n_cust == 0 or n_pop == 0:
        raise SeedError(f"{day}: no customers or no live products left to sell")

    for name, table in (("stg_soh", SALES_ORDER_HEADER), ("stg_sod", SALES_ORDER_DETAIL), ("stg_cust", CUSTOMER)):
        create_staging(con, name, table)

    stage_new_orders(con, D, v, seqs, n_cust, n_pop)
    stage_order_actions(con, D)
    stage_customers(con, D, v, seqs)
    commit_order(con, D, dord)
    apply_changes(con, dord)

    post_journals(con, D, v, seqs)
    plan_forecasts(con, D, v, n_pop, day == first_day)
    change_prices(con, D, v)

    # IDs are never reused, like IDENTITY: the sequences move past what the day inserted.
    used = {
        "SalesOrderID": "SELECT max(SalesOrderID) FROM stg_soh WHERE op = 'I'",
        "SalesOrderDetailID": "SELECT max(SalesOrderDetailID) FROM stg_sod WHERE op = 'I'",
        "CustomerID": "SELECT max(CustomerID) FROM stg_cust WHERE tx_kind = 'cust_ins'",
        "EntryID": "SELECT max(EntryID) FROM gl_new",
        "JournalID": "SELECT max(JournalID) FROM gl_new",
    }
    con.executemany(
        "UPDATE demo.sequences SET last_value = ? WHERE name = ?",
        [(max(seqs[name], one(con, sql) or 0), name) for name, sql in used.items()],
    )
    run(con, f"INSERT INTO demo.seeded_days VALUES ({D})")
    for temp in (
        "cust_rank",
        "pop",
        "o_new",
        "l_new",
        "act",
        "amend_l",
        "stg_soh",
        "stg_sod",
        "stg_cust",
        "tx",
        "gl_new",
    ):
        run(con, f"DROP TABLE IF EXISTS temp.{temp}")
