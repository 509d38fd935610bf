"""Seeding the demo ERP: deterministic, idempotent, day by day, in vectorised DuckDB SQL.

``seed(demo_dir, start, days, scale)`` creates the demo folder or extends it. Every
pseudo-random choice is ``hash(<salt>, <day>, <row key>)`` scaled to [0, 1) (duckdb is
pinned, so ``hash`` is stable), every generated key comes from a total order, and a day
depends only on the scale, the regions and the state the previous days left. So the same
arguments on a fresh folder give the same bytes of content, and seeding days 1-2 and then
day 3 gives what seeding days 1-3 at once gives. Each database file records the days it
holds in ``demo.seeded_days``; a day already there is skipped, so a re-run changes
nothing, and each day of each file is one transaction, so an interrupted seed resumes.

Volumes at scale 1 (scale multiplies them; the minimums keep tiny scales meaningful):
about 25,000 orders and 100,000 order lines a day (1-7 lines, 4 on average), 2% more
late orders dated 1-3 days back, 1,000 products (min 50), 20,000 customers (min 200),
60 GL accounts, 500 journals (about 2,000 GL entries) a day, 3 inventory locations per
region.

What one simulated day D does, in the ERP:

* inserts D's orders and late orders (each order is one transaction; ``ModifiedDate``
  is the transaction's time inside D, with microsecond fractions; ``SalesOrderID`` and
  ``SalesOrderDetailID`` follow the insert time, like IDENTITY columns);
* injects bad detail rows into them: negative ``OrderQty``, NULL ``ProductID`` and a
  ``ProductID`` of 990000 or more, which is not in ``Production.Product`` (each at least
  once a day, 0.05% of lines each at scale 1);
* touches orders of the 30 days before D (one action per order and day): ships them in
  batch transactions (Status 1 → 2 → 5, sometimes via 3, ShipDate = D), cancels a few
  (Status 6), amends some (changes OrderQty of some lines, deletes others, recomputes the
  header, RevisionNumber + 1) and deletes a few whole orders with their lines; every
  change sets ``ModifiedDate`` and bumps ``RowVer``;
* inserts, updates and deletes customers, and deletes and re-inserts at least one customer
  with identical values in one transaction (two CDC rows, no net change);
* writes every change of those three tables to CDC (and the two Sales tables to Change
  Tracking), see :mod:`mssql_lakehouse_demo.cdc`;
* posts D's journals to ``Finance.GLEntry``; each balances, except one a day (by at least
  0.01) and one a day with a line on ``AccountID`` 9999, which is not in ``GLAccount``;
* revises 5% of the open forecasts and adds the forecasts of D + 6 for every live product
  (on the first day D .. D + 6), around each SKU's expected daily demand;
* changes a few product prices late in the evening (after the day's orders used them).

In each region's inventory: changes about a quarter of the ``Production.ProductInventory``
quantities, each at a time inside D, keeping the closed versions in
``Production.ProductInventoryHistory`` as a system-versioned temporal table does.

``RowVer`` is ``day_ordinal << 40 | transaction << 16 | change``, so it grows with commit
order like SQL Server's database-wide rowversion counter (its values are sparser).

The clock. The demo server runs in the business day's zone (``LAKEHOUSE_ERP_TIMEZONE``,
recorded in ``demo.settings`` as ``time_zone``; a folder is extended in its own zone only), as
SQL Server's ``SYSDATETIME()`` does: ``ModifiedDate``, ``cdc.lsn_time_mapping`` and
``ct.versions`` hold wall-clock times of that zone. A time "inside D" is a moment of D's real
length (23 or 25 hours on a DST change) shown on that wall clock, so no value falls in the hour
a spring-forward skips and the repeated hour of a fall-back is used twice; transactions are
numbered in wall-clock order, so commit times never go back as LSNs grow. The temporal tables'
period columns are in UTC, as SQL Server keeps them.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from mssql_lakehouse_demo import db
from mssql_lakehouse.settings import erp_timezone
from mssql_lakehouse_demo.cdc import (
    MAX_SLOT,
    day_ordinal,
    full_update_mask,
    lsn,
    lsn_sql,
    update_mask_sql,
)
from mssql_lakehouse_demo.schema import (
    CDC_INSTANCES,
    CT_TABLES,
    CUSTOMER,
    DEFAULT_REGIONS,
    END_OF_TIME,
    GL_ENTRY,
    INVENTORY_TABLES,
    SALES_ORDER_DETAIL,
    SALES_ORDER_HEADER,
    Table,
    ct_log_table,
    erp_ddl,
    erp_path,
    inventory_ddl,
    inventory_path,
    validate_region,
)

GENERATOR_VERSION = "1"
FORECAST_HORIZON_DAYS = 6
ORDER_WINDOW_DAYS = 30
LOCATIONS_PER_REGION = 3
UNKNOWN_ACCOUNT_ID = 9999
UNKNOWN_PRODUCT_BASE = 990_000
FIRST_SALES_ORDER_ID = 43_659  # where AdventureWorks starts, for a familiar look


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


@dataclass(frozen=True)
class SeedResult:
    demo_dir: Path
    seeded_days: tuple[dt.date, ...]
    """Days written to at least one database file by this call."""
    skipped_days: tuple[dt.date, ...]
    """Requested days every file already held."""
    seconds_per_day: dict[dt.date, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# SQL building blocks
# ---------------------------------------------------------------------------------------------

_TWO_TO_64 = "18446744073709551616.0"


def _u(salt: str, *keys: str) -> str:
    """A pseudo-random DOUBLE in [0, 1) keyed by a salt and SQL key expressions."""
    return f"(hash('{salt}', {', '.join(keys)})::DOUBLE / {_TWO_TO_64})"


def _cube(u: str) -> str:
    """``u`` cubed by multiplication: skewed towards 0, and bit-identical on every platform,
    which ``pow``/``exp``/``ln`` (left to the C library) are not guaranteed to be."""
    return f"({u} * {u} * {u})"


def _square(u: str) -> str:
    return f"({u} * {u})"


def _pick(values: Sequence[str], u: str) -> str:
    """One of ``values`` chosen by the [0, 1) expression ``u``."""
    items = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"list_element([{items}], 1 + floor({u} * {len(values)})::INTEGER)"


def _date(day: dt.date) -> str:
    return f"DATE '{day.isoformat()}'"


def _define_clock(con: duckdb.DuckDBPyConnection, time_zone: str) -> None:
    """SQL macros for the demo server's clock in ``time_zone`` (an IANA name, checked by the settings).

    ``erp_time(day, offset)``: the wall-clock time ``offset`` microseconds of a nominal 24-hour
    day into ``day``, the offset stretched to the day's real length (23, 24 or 25 hours), so
    the same fraction of every day is an existing moment of it. ``erp_utc(wall)``: a wall-clock
    time as UTC (for the temporal tables' period columns).
    """
    zone = db.sql_string(time_zone)
    _run(con, f"""
        CREATE OR REPLACE TEMP MACRO erp_midnight(day) AS timezone({zone}, CAST(day AS TIMESTAMP))
    """)
    _run(con, f"""
        CREATE OR REPLACE TEMP MACRO erp_time(day, offset_micros) AS timezone({zone},
            erp_midnight(day) + to_microseconds(CAST(offset_micros AS BIGINT)
                * CAST(epoch(erp_midnight(day + 1)) - epoch(erp_midnight(day)) AS BIGINT) // 86400))
    """)
    _run(con, f"CREATE OR REPLACE TEMP MACRO erp_utc(wall) AS timezone('UTC', timezone({zone}, wall))")


def _time_in_day(day_sql: str, u: str, lo_seconds: float, hi_seconds: float) -> str:
    """A wall-clock TIMESTAMP at microseconds between two offsets into a day, chosen by ``u``."""
    lo = int(lo_seconds * 1_000_000)
    span = int((hi_seconds - lo_seconds) * 1_000_000)
    return f"erp_time({day_sql}, {lo} + floor({u} * {span}))"


def _uuid(table: str, *keys: str) -> str:
    """A stable rowguid for a row key."""
    return "md5(concat_ws(':', '" + table + "', " + ", ".join(keys) + "))::UUID"


def _cols(table: Table, alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(f'{prefix}"{c}"' for c in table.column_names)


_LINE_TOTAL = "(OrderQty * UnitPrice * (1 - UnitPriceDiscount))"

_FIRST_NAMES = [
    "Ana", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kemal", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
    "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe", "Aiko", "Bruno", "Carmen", "Dmitri",
]
_LAST_NAMES = [
    "Smith", "Garcia", "Müller", "Rossi", "Nguyen", "Kim", "Tanaka", "Silva", "Novak", "Dubois",
    "Jensen", "Kowalski", "O'Brien", "Haddad", "Patel", "Svensson", "Costa", "Yilmaz", "Ivanova", "Lee",
    "Martin", "Fischer", "Moreau", "Hansen", "Sato", "Lopez", "Wright", "Cohen", "Bauer", "Chen",
]
_CITIES = [
    ("Seattle", "US"), ("Toronto", "CA"), ("Austin", "US"), ("Mexico City", "MX"), ("São Paulo", "BR"),
    ("London", "GB"), ("Berlin", "DE"), ("Paris", "FR"), ("Madrid", "ES"), ("Milan", "IT"),
    ("Stockholm", "SE"), ("Warsaw", "PL"), ("Istanbul", "TR"), ("Dubai", "AE"), ("Mumbai", "IN"),
    ("Singapore", "SG"), ("Tokyo", "JP"), ("Seoul", "KR"), ("Sydney", "AU"), ("Auckland", "NZ"),
]
_EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example"]
_ADJECTIVES = ["Road", "Mountain", "Touring", "Trail", "Urban", "Sport", "Classic", "Pro", "Lite", "Aero"]
_NOUNS = [
    "Bike", "Frame", "Wheel", "Helmet", "Jersey", "Glove", "Pedal", "Saddle", "Chain", "Tire",
    "Bottle", "Lock", "Light", "Pump", "Rack", "Fork", "Brake", "Crank", "Shorts", "Socks",
]
_COLORS = ["Black", "Red", "Silver", "Blue", "Yellow", "White", "Multi", "Grey"]
_JOURNAL_KINDS = [
    "Sales invoice batch", "Supplier invoice", "Payroll run", "Bank fees", "Depreciation",
    "Inventory adjustment", "Accrual", "Customer receipt", "Intercompany charge", "Tax provision",
]

# (AccountType, NormalBalance, names): 12 + 10 + 5 + 12 + 21 = 60 accounts.
_ACCOUNT_GROUPS = [
    ("Asset", "D", 1000, [
        "Cash", "Petty Cash", "Bank - Operating", "Bank - Payroll", "Accounts Receivable",
        "Allowance for Doubtful Accounts", "Inventory - Finished Goods", "Inventory - Components",
        "Prepaid Expenses", "Equipment", "Accumulated Depreciation", "Vehicles",
    ]),
    ("Liability", "C", 2000, [
        "Accounts Payable", "Accrued Liabilities", "Wages Payable", "Sales Tax Payable",
        "Income Tax Payable", "Customer Deposits", "Deferred Revenue", "Short-term Loan",
        "Long-term Loan", "Lease Liability",
    ]),
    ("Equity", "C", 3000, [
        "Share Capital", "Share Premium", "Retained Earnings", "Current Year Earnings", "Dividends",
    ]),
    ("Revenue", "C", 4000, [
        "Sales - Bikes", "Sales - Components", "Sales - Clothing", "Sales - Accessories",
        "Service Revenue", "Freight Income", "Sales Returns", "Sales Discounts", "Interest Income",
        "FX Gains", "Rental Income", "Other Income",
    ]),
    ("Expense", "D", 5000, [
        "Cost of Goods Sold", "Freight Out", "Salaries", "Payroll Taxes", "Benefits", "Rent",
        "Utilities", "Insurance", "Office Supplies", "Software", "Marketing", "Travel",
        "Professional Fees", "Bank Charges", "Depreciation Expense", "Repairs", "Telephone",
        "Training", "Bad Debt Expense", "FX Losses", "Income Tax Expense",
    ]),
]


def _expected_line_qty() -> float:
    """E[OrderQty] for ``1 + floor(10 u^2)``: 1 + sum over k of P(10 u^2 >= k)."""
    return 1 + sum(1 - math.sqrt(k / 10) for k in range(1, 10))


# ---------------------------------------------------------------------------------------------
# public entry points
# ---------------------------------------------------------------------------------------------


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
    time_zone = erp_timezone()
    timings: dict[dt.date, float] = {}
    written: list[dt.date] = []

    with db.connect(erp_path(demo_dir)) as con:
        recorded = _settings(con, "erp")
        if recorded:
            _check_same(recorded, scale, regions, time_zone)
            regions = recorded["regions"].split(",")
            first_day = dt.date.fromisoformat(recorded["first_day"])
        else:
            regions = list(regions or DEFAULT_REGIONS)
            first_day = start
        _define_clock(con, time_zone)
        erp_days = _seeded_days(con, "erp") if recorded else []
        plan = {"erp": _new_days(erp_days, requested, "the demo ERP (erp.duckdb)", first_day)}
        for region in regions:
            alias = _region_alias(region)
            path = inventory_path(demo_dir, region)
            if recorded and not path.exists():
                raise SeedError(
                    f"{path.name} is missing although the demo ERP holds {erp_days[0]} .. {erp_days[-1]}; "
                    "restore it or seed a fresh folder"
                )
            con.execute(f"ATTACH {db.sql_string(str(path))} AS {alias}")
            region_days = _seeded_days(con, alias) if _settings(con, alias) else []
            plan[alias] = _new_days(region_days, requested, f"{alias}.duckdb", first_day)

        for day in requested:
            began = time.perf_counter()
            touched = False
            if day in plan["erp"]:
                _in_transaction(con, lambda d=day: _seed_erp_day(con, d, volumes, regions, first_day, time_zone))
                touched = True
            for index, region in enumerate(regions):
                alias = _region_alias(region)
                if day in plan[alias]:
                    _in_transaction(
                        con, lambda d=day, r=region, i=index: _seed_region_day(con, d, r, i, first_day)
                    )
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
        if not _settings(con, "erp"):
            return []
        return _seeded_days(con, "erp")


def demo_settings(demo_dir: Path) -> dict[str, str]:
    """What the demo was created with: scale, regions, first_day, generator_version."""
    with db.connect(erp_path(demo_dir), read_only=True) as con:
        return _settings(con, "erp")


def content_hashes(demo_dir: Path) -> dict[str, str]:
    """An md5 of every table's ordered content, keyed ``<database>.<schema>.<table>``."""
    out: dict[str, str] = {}
    for path in sorted(Path(demo_dir).glob("*.duckdb")):
        with db.connect(path, read_only=True) as con:
            tables = con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() "
                "ORDER BY ALL"
            ).fetchall()
            for schema, table in tables:
                (digest,) = con.execute(
                    f'SELECT md5(coalesce(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR)), \'\')) '
                    f'FROM "{schema}"."{table}" AS t'
                ).fetchone()
                out[f"{path.stem}.{schema}.{table}"] = digest
    return out


def table_counts(demo_dir: Path) -> dict[str, int]:
    """Row counts of every table, keyed ``<database>.<schema>.<table>``."""
    out: dict[str, int] = {}
    for path in sorted(Path(demo_dir).glob("*.duckdb")):
        with db.connect(path, read_only=True) as con:
            tables = con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() ORDER BY ALL"
            ).fetchall()
            for schema, table in tables:
                out[f"{path.stem}.{schema}.{table}"] = con.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}"'
                ).fetchone()[0]
    return out


def update_gl_entry(
    demo_dir: Path,
    entry_id: int,
    *,
    debit: Decimal | float | str | None = None,
    credit: Decimal | float | str | None = None,
    account_id: int | None = None,
    description: str | None = None,
    posting_date: dt.date | None = None,
    modified_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Change one posted ledger entry, as a restatement in the ERP would; returns the new row.

    Only the given fields change. ``ModifiedDate`` becomes ``modified_at``, by default one
    microsecond after the latest ``ModifiedDate`` in ``Finance.GLEntry``, so a watermark on
    it sees the change. The journal may no longer balance afterwards: that is the point of
    a restatement test, and what the ERP allows.
    """
    with db.connect(erp_path(demo_dir)) as con:
        row = con.execute(
            f"SELECT {_cols(GL_ENTRY)} FROM Finance.GLEntry WHERE EntryID = ?", [entry_id]
        ).fetchone()
        if row is None:
            raise KeyError(f"Finance.GLEntry has no EntryID {entry_id}")
        current = dict(zip(GL_ENTRY.column_names, row, strict=True))
        new = dict(current)
        money = Decimal("0.0001")  # money has 4 decimals; round here so the returned row is the stored one
        if debit is not None:
            new["Debit"] = Decimal(str(debit)).quantize(money)
        if credit is not None:
            new["Credit"] = Decimal(str(credit)).quantize(money)
        if new["Debit"] < 0 or new["Credit"] < 0:
            raise ValueError("Debit and Credit are non-negative amounts")
        if new["Debit"] != 0 and new["Credit"] != 0:
            raise ValueError("a ledger entry is either a debit or a credit: set the other to 0")
        if account_id is not None:
            new["AccountID"] = account_id
        if description is not None:
            new["Description"] = description
        if posting_date is not None:
            new["PostingDate"] = posting_date
        if modified_at is None:
            (latest,) = con.execute("SELECT max(ModifiedDate) FROM Finance.GLEntry").fetchone()
            modified_at = latest + dt.timedelta(microseconds=1)
        new["ModifiedDate"] = modified_at
        con.execute(
            "UPDATE Finance.GLEntry SET AccountID = ?, PostingDate = ?, Debit = ?, Credit = ?, "
            "Description = ?, ModifiedDate = ? WHERE EntryID = ?",
            [
                new["AccountID"],
                new["PostingDate"],
                new["Debit"],
                new["Credit"],
                new["Description"],
                new["ModifiedDate"],
                entry_id,
            ],
        )
        return new


# ---------------------------------------------------------------------------------------------
# bookkeeping
# ---------------------------------------------------------------------------------------------


def _region_alias(region: str) -> str:
    return f"inventory_{validate_region(region)}"


def _settings(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, str]:
    """The ``demo.settings`` of one attached database (its catalog is the file stem), or {}."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_catalog = ? AND table_schema = 'demo' AND table_name = 'settings'",
        [catalog],
    ).fetchone()[0]
    if not exists:
        return {}
    return dict(con.execute(f"SELECT name, value FROM {catalog}.demo.settings").fetchall())


def _seeded_days(con: duckdb.DuckDBPyConnection, catalog: str) -> list[dt.date]:
    return [r[0] for r in con.execute(f"SELECT day FROM {catalog}.demo.seeded_days ORDER BY day").fetchall()]


def recorded_time_zone(settings: Mapping[str, str]) -> str:
    """The zone of a demo server's clock, from its ``demo.settings`` (folders seeded before it was recorded ran on UTC)."""
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


def _new_days(
    seeded: list[dt.date], requested: list[dt.date], what: str, expected_first: dt.date
) -> list[dt.date]:
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


def _in_transaction(con: duckdb.DuckDBPyConnection, work: Callable[[], None]) -> None:
    con.execute("BEGIN")
    try:
        work()
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> None:
    con.execute(sql, params or [])


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return con.execute(sql).fetchone()[0]


# ---------------------------------------------------------------------------------------------
# the ERP: creation and master data
# ---------------------------------------------------------------------------------------------


def _create_erp(
    con: duckdb.DuckDBPyConnection, first_day: dt.date, v: Volumes, regions: Sequence[str], time_zone: str
) -> None:
    for stmt in erp_ddl():
        _run(con, stmt)
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
    d0 = _date(first_day)
    _run(
        con,
        f"""
        INSERT INTO Production.Product
        WITH p AS (
            SELECT i::INTEGER AS ProductID,
                   {d0}::TIMESTAMP - INTERVAL (365 + floor({_u('p_start', 'i')} * 3000)::INTEGER) DAY AS SellStartDate,
                   round(3 + 2997 * {_cube(_u('p_price', 'i'))}, 2) AS price
            FROM range(1, {v.products + 1}) r(i)
        )
        SELECT ProductID,
               {_pick(_ADJECTIVES, _u('p_adj', 'ProductID'))} || ' ' || {_pick(_NOUNS, _u('p_noun', 'ProductID'))}
                   || ' ' || lpad(ProductID::VARCHAR, 5, '0') AS Name,
               printf('SKU-%05d', ProductID) AS ProductNumber,
               CASE WHEN {_u('p_color_null', 'ProductID')} < 0.2 THEN NULL
                    ELSE {_pick(_COLORS, _u('p_color', 'ProductID'))} END AS Color,
               CAST(round(price * (0.55 + 0.15 * {_u('p_cost', 'ProductID')}), 2) AS DECIMAL(19,4)) AS StandardCost,
               CAST(price AS DECIMAL(19,4)) AS ListPrice,
               SellStartDate,
               CASE WHEN {_u('p_end', 'ProductID')} < 0.05
                    THEN SellStartDate + INTERVAL (30 + floor({_u('p_end_days', 'ProductID')} * 300)::INTEGER) DAY
               END AS SellEndDate,
               {_uuid('Production.Product', 'ProductID')} AS rowguid,
               SellStartDate + to_microseconds(CAST(floor({_u('p_mod', 'ProductID')} * 86400000000) AS BIGINT)) AS ModifiedDate
        FROM p
        """,
    )
    # Customers joined over the years before the first day.
    joined = (
        f"{d0}::TIMESTAMP - INTERVAL (1 + floor({_u('c_age', 'c.i')} * 1500)::INTEGER) DAY"
        f" + to_microseconds(CAST(floor({_u('c_tod', 'c.i')} * 86400000000) AS BIGINT))"
    )
    _run(
        con,
        f"""
        INSERT INTO dbo.Customer
        SELECT {_customer_columns_sql('c.i', joined)}
        FROM range(1, {v.customers + 1}) c(i)
        """,
    )
    accounts = []
    account_id = 0
    for account_type, normal, base, names in _ACCOUNT_GROUPS:
        for k, name in enumerate(names):
            account_id += 1
            accounts.append(
                (account_id, str(base + 10 * k), name, account_type, normal,
                 dt.datetime.combine(first_day, dt.time()) - dt.timedelta(days=400))
            )
    con.executemany("INSERT INTO Finance.GLAccount VALUES (?, ?, ?, ?, ?, ?)", accounts)

    # CDC and CT are enabled on the (then empty or pre-loaded) tables just before the first day.
    enabled_at = dt.datetime.combine(first_day, dt.time()) - dt.timedelta(minutes=5)
    start_lsn = lsn(day_ordinal(first_day), 0, 1)
    for ci in CDC_INSTANCES:
        con.execute(
            "INSERT INTO cdc.change_tables VALUES (?, ?, ?, ?, ?, ?, 0, NULL, true, false, NULL, ?, 'PRIMARY', ?, false)",
            [ci.object_id, ci.name, ci.table.schema, ci.table.name, start_lsn, ci.source_object_id,
             f"PK_{ci.table.name}", enabled_at],
        )
        con.executemany(
            "INSERT INTO cdc.captured_columns VALUES (?, ?, ?, ?, ?, false)",
            [(ci.object_id, c.name, i, c.mssql_type, i) for i, c in enumerate(ci.table.columns, start=1)],
        )
    con.executemany(
        "INSERT INTO ct.min_valid_versions VALUES (?, ?, 0)", [(t.schema, t.name) for t in CT_TABLES]
    )


def _customer_columns_sql(id_expr: str, modified_sql: str) -> str:
    """The columns of a generated customer from its id (the same id always gives the same person)."""
    first = _pick(_FIRST_NAMES, _u("c_first", id_expr))
    last = _pick(_LAST_NAMES, _u("c_last", id_expr))
    city = f"floor({_u('c_city', id_expr)} * {len(_CITIES)})::INTEGER + 1"
    cities = "[" + ", ".join("'" + c.replace("'", "''") + "'" for c, _ in _CITIES) + "]"
    countries = "[" + ", ".join(f"'{cc}'" for _, cc in _CITIES) + "]"
    return f"""
        {id_expr}::INTEGER AS CustomerID,
        {first} AS FirstName,
        {last} AS LastName,
        CASE WHEN {_u('c_email_null', id_expr)} < 0.1 THEN NULL
             ELSE lower(replace({first} || '.' || {last}, '''', '')) || {id_expr}::VARCHAR || '@'
                  || {_pick(_EMAIL_DOMAINS, _u('c_domain', id_expr))} END AS Email,
        CASE WHEN {_u('c_city_null', id_expr)} < 0.05 THEN NULL ELSE list_element({cities}, {city}) END AS City,
        CASE WHEN {_u('c_cc_null', id_expr)} < 0.03 THEN NULL ELSE list_element({countries}, {city}) END AS CountryRegion,
        CASE WHEN {_u('c_credit_null', id_expr)} < 0.2 THEN NULL
             ELSE CAST((1 + floor({_u('c_credit', id_expr)} * 40)) * 500 AS DECIMAL(19,4)) END AS CreditLimit,
        {modified_sql} AS ModifiedDate"""


# ---------------------------------------------------------------------------------------------
# the ERP: one day
# ---------------------------------------------------------------------------------------------


def _staging(con: duckdb.DuckDBPyConnection, name: str, table: Table) -> None:
    """A temp table of one source table's changes of the day, with their transaction."""
    _run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        SELECT CAST(NULL AS VARCHAR) AS tx_kind, CAST(NULL AS BIGINT) AS tx_key,
               CAST(NULL AS INTEGER) AS seq, CAST(NULL AS VARCHAR) AS op,
               CAST(NULL AS TIMESTAMP) AS tx_begin, CAST(NULL AS TIMESTAMP) AS tx_end, t.*
        FROM {table.qualified} AS t LIMIT 0
        """,
    )


def _tx_end(begin: str, u: str, max_ms: int = 50) -> str:
    return f"({begin} + to_microseconds(CAST(200 + floor({u} * {max_ms * 1000}) AS BIGINT)))"


def _seed_erp_day(
    con: duckdb.DuckDBPyConnection, day: dt.date, v: Volumes, regions: Sequence[str], first_day: dt.date,
    time_zone: str,
) -> None:
    if day == first_day:
        _create_erp(con, first_day, v, regions, time_zone)
    D = _date(day)
    dord = day_ordinal(day)
    seqs = dict(con.execute("SELECT name, last_value FROM demo.sequences").fetchall())

    # Who can buy and what sells, as of the start of the day.
    _run(con, "CREATE OR REPLACE TEMP TABLE cust_rank AS "
              "SELECT CustomerID, row_number() OVER (ORDER BY CustomerID) - 1 AS rk FROM dbo.Customer")
    _run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE pop AS
        SELECT ProductID, ListPrice, row_number() OVER (ORDER BY hash('pop', ProductID), ProductID) - 1 AS rk
        FROM Production.Product
        WHERE SellStartDate <= {D} AND (SellEndDate IS NULL OR SellEndDate > {D})
        """,
    )
    n_cust = _one(con, "SELECT count(*) FROM cust_rank")
    n_pop = _one(con, "SELECT count(*) FROM pop")
    if n_cust == 0 or n_pop == 0:
        raise SeedError(f"{day}: no customers or no live products left to sell")

    for name, table in (("stg_soh", SALES_ORDER_HEADER), ("stg_sod", SALES_ORDER_DETAIL), ("stg_cust", CUSTOMER)):
        _staging(con, name, table)

    _stage_new_orders(con, D, v, seqs, n_cust, n_pop)
    _stage_order_actions(con, D)
    _stage_customers(con, D, v, seqs)
    _commit_order(con, D, dord)
    _apply_changes(con, dord)

    _post_journals(con, D, v, seqs)
    _plan_forecasts(con, D, v, n_pop, day == first_day)
    _change_prices(con, D, v)

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
        [(max(seqs[name], _one(con, sql) or 0), name) for name, sql in used.items()],
    )
    _run(con, f"INSERT INTO demo.seeded_days VALUES ({D})")
    for temp in ("cust_rank", "pop", "o_new", "l_new", "act", "amend_l", "stg_soh", "stg_sod",
                 "stg_cust", "tx", "gl_new"):
        _run(con, f"DROP TABLE IF EXISTS temp.{temp}")


def _stage_new_orders(
    con: duckdb.DuckDBPyConnection, D: str, v: Volumes, seqs: dict[str, int], n_cust: int, n_pop: int
) -> None:
    n = v.orders + v.late_orders
    _run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE o_new AS
        WITH base AS (
            SELECT i,
                   i >= {v.orders} AS is_late,
                   {_time_in_day(D, _u('o_time', D, 'i'), 1, 86_390)} AS begin_time,
                   {_u('o_dur', D, 'i')} AS u_dur,
                   floor({_u('o_cust', D, 'i')} * {n_cust})::BIGINT AS cust_rk,
                   1 + floor({_u('o_lines', D, 'i')} * 7)::INTEGER AS n_lines,
                   1 + floor({_u('o_late', D, 'i')} * 3)::INTEGER AS late_days
            FROM range({n}) r(i)
        )
        SELECT ({seqs['SalesOrderID']} + row_number() OVER (ORDER BY begin_time, i))::INTEGER AS SalesOrderID,
               i, is_late,
               CASE WHEN is_late THEN {D} - late_days ELSE {D} END AS OrderDate,
               begin_time, {_tx_end('begin_time', 'u_dur')} AS end_time,
               c.CustomerID, n_lines
        FROM base JOIN cust_rank c ON c.rk = base.cust_rk
        """,
    )
    nb = v.bad_lines_each
    _run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE l_new AS
        WITH x AS (
            SELECT SalesOrderID, begin_time, end_time, unnest(range(n_lines)) AS line_no FROM o_new
        ), y AS (
            SELECT x.*,
                   floor({_square(_u('l_prod', D, 'SalesOrderID', 'line_no'))} * {n_pop})::BIGINT AS prod_rk,
                   (1 + floor({_square(_u('l_qty', D, 'SalesOrderID', 'line_no'))} * 10))::SMALLINT AS qty,
                   {_u('l_disc', D, 'SalesOrderID', 'line_no')} AS ud,
                   hash('l_bad', {D}, SalesOrderID, line_no) AS hbad
            FROM x
        ), z AS (
            SELECT y.*, p.ProductID AS good_product, p.ListPrice,
                   ({seqs['SalesOrderDetailID']} + row_number() OVER (ORDER BY y.SalesOrderID, y.line_no))::INTEGER AS SalesOrderDetailID,
                   row_number() OVER (ORDER BY hbad, y.SalesOrderID, y.line_no) AS bad_rk
            FROM y JOIN pop p ON p.rk = y.prod_rk
        )
        SELECT SalesOrderID, SalesOrderDetailID, line_no, begin_time, end_time,
               CASE WHEN bad_rk BETWEEN {nb + 1} AND {2 * nb} THEN NULL
                    WHEN bad_rk BETWEEN {2 * nb + 1} AND {3 * nb} THEN ({UNKNOWN_PRODUCT_BASE} + hbad % 9999)::INTEGER
                    ELSE good_product END AS ProductID,
               CASE WHEN bad_rk <= {nb} THEN -qty ELSE qty END AS OrderQty,
               ListPrice AS UnitPrice,
               CAST(CASE WHEN ud < 0.85 THEN 0 WHEN ud < 0.93 THEN 0.02 WHEN ud < 0.97 THEN 0.05
                         WHEN ud < 0.99 THEN 0.10 WHEN ud < 0.997 THEN 0.20 ELSE 0.40 END AS DECIMAL(19,4)) AS UnitPriceDiscount
        FROM z
        """,
    )
    _run(
        con,
        f"""
        INSERT INTO stg_soh BY NAME
        SELECT 'order' AS tx_kind, o.SalesOrderID AS tx_key, 1 AS seq, 'I' AS op,
               o.begin_time AS tx_begin, o.end_time AS tx_end,
               o.SalesOrderID, 0 AS RevisionNumber, o.OrderDate, o.OrderDate + 12 AS DueDate,
               NULL AS ShipDate, 1 AS Status, o.CustomerID,
               s.SubTotal, CAST(s.SubTotal * 0.08 AS DECIMAL(19,4)) AS TaxAmt,
               CAST(s.SubTotal * 0.025 AS DECIMAL(19,4)) AS Freight,
               {_uuid('Sales.SalesOrderHeader', 'o.SalesOrderID')} AS rowguid,
               o.begin_time AS ModifiedDate
        FROM o_new o
        JOIN (SELECT SalesOrderID, CAST(sum({_LINE_TOTAL}) AS DECIMAL(19,4)) AS SubTotal
              FROM l_new GROUP BY SalesOrderID) s USING (SalesOrderID)
        """,
    )
    _run(
        con,
        f"""
        INSERT INTO stg_sod BY NAME
        SELECT 'order' AS tx_kind, SalesOrderID AS tx_key, (line_no + 2)::INTEGER AS seq, 'I' AS op,
               begin_time AS tx_begin, end_time AS tx_end,
               SalesOrderID, SalesOrderDetailID, ProductID, OrderQty, UnitPrice, UnitPriceDiscount,
               {_uuid('Sales.SalesOrderDetail', 'SalesOrderDetailID')} AS rowguid,
               begin_time AS ModifiedDate
        FROM l_new
        """,
    )


def _stage_order_actions(con: duckdb.DuckDBPyConnection, D: str) -> None:
    """One action per recent order and day: delete, cancel, amend or move along the status chain."""
    _run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE act AS
        WITH c AS (
            SELECT h.*,
                   {_u('a_kind', D, 'h.SalesOrderID')} AS ua,
                   {_u('a_prog', D, 'h.SalesOrderID')} AS up,
                   {_u('a_back', D, 'h.SalesOrderID')} AS ub,
                   {_time_in_day(D, _u('a_time', D, 'h.SalesOrderID'), 1, 86_390)} AS t_begin,
                   {_u('a_dur', D, 'h.SalesOrderID')} AS u_dur,
                   {_u('a_batch', D, 'h.SalesOrderID')} AS u_batch
            FROM Sales.SalesOrderHeader h
            WHERE h.OrderDate BETWEEN {D} - {ORDER_WINDOW_DAYS} AND {D} - 1 AND h.Status <> 6
        )
        SELECT * EXCLUDE (ua, up, ub),
               CASE WHEN ua < 0.0002 THEN 'delete'
                    WHEN ua < 0.0006 AND Status < 5 THEN 'cancel'
                    WHEN ua < 0.0106 AND Status < 5 THEN 'amend'
                    WHEN (Status = 1 AND up < 0.7) OR (Status = 2 AND up < 0.5) OR (Status = 3 AND up < 0.3)
                         THEN 'progress'
               END AS action,
               CASE WHEN Status = 1 THEN 2 WHEN Status = 2 AND ub < 0.1 THEN 3 ELSE 5 END AS next_status
        FROM c
        """,
    )
    _run(con, "DELETE FROM act WHERE action IS NULL")
    n_progress = _one(con, "SELECT count(*) FROM act WHERE action = 'progress'")
    # Shipping runs in batches through the day; each batch is one transaction, kept well
    # below the 65,533 changes an LSN slot can number.
    batches = max(8, math.ceil(n_progress / 20_000))
    step = 16 * 3600 // batches
    batch_begin = (
        f"erp_time({D}, (6 * 3600 + batch * {step}) * 1000000 "
        f"+ floor({_u('batch', D, 'batch')} * {min(step, 600)} * 1000000))"
    )
    _run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE act_tx AS
        WITH a AS (
            SELECT SalesOrderID, action,
                   CASE WHEN action = 'progress' THEN floor(u_batch * {batches})::BIGINT ELSE SalesOrderID END AS tx_key,
                   CASE WHEN action = 'progress' THEN floor(u_batch * {batches})::BIGINT END AS batch,
                   t_begin, u_dur
            FROM act
        )
        SELECT SalesOrderID, action, tx_key,
               CASE WHEN action = 'progress' THEN {batch_begin} ELSE t_begin END AS tx_begin,
               CASE WHEN action = 'progress' THEN {_tx_end(batch_begin, _u('batch_dur', D, 'batch'), 2000)}
                    ELSE {_tx_end('t_begin', 'u_dur')} END AS tx_end
        FROM a
        """,
    )
    # Amendments: the first line (in a per-day shuffled order) always changes quantity,
    # others change quantity or go away.
    _run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE amend_l AS
        WITH l AS (
            SELECT d.*,
                   row_number() OVER (PARTITION BY d.SalesOrderID
                                      ORDER BY hash('am_rk', {D}, d.SalesOrderDetailID), d.SalesOrderDetailID) AS rk,
                   {_u('am_act', D, 'd.SalesOrderDetailID')} AS ua,
                   (1 + floor({_square(_u('am_qty', D, 'd.SalesOrderDetailID'))} * 10))::SMALLINT AS q
            FROM Sales.SalesOrderDetail d
            JOIN act a ON a.SalesOrderID = d.SalesOrderID AND a.action = 'amend'
        )
        SELECT * EXCLUDE (rk, ua, q),
               CASE WHEN rk = 1 THEN 'U' WHEN ua < 0.15 THEN 'D' WHEN ua < 0.35 THEN 'U' END AS line_op,
               CASE WHEN q = OrderQty THEN OrderQty + 1 ELSE q END AS new_qty
        FROM l
        """,
    )
    _run(
        con,
        """
        INSERT INTO stg_sod BY NAME
        SELECT 'amend' AS tx_kind, x.SalesOrderID AS tx_key,
               row_number() OVER (PARTITION BY x.SalesOrderID ORDER BY l.SalesOrderDetailID)::INTEGER AS seq,
               l.line_op AS op, x.tx_begin, x.tx_end,
               l.* EXCLUDE (line_op, new_qty, OrderQty, ModifiedDate, RowVer),
               CASE WHEN l.line_op = 'U' THEN l.new_qty ELSE l.OrderQty END AS OrderQty,
               CASE WHEN l.line_op = 'U' THEN x.tx_begin ELSE l.ModifiedDate END AS ModifiedDate,
               CASE WHEN l.line_op = 'D' THEN l.RowVer END AS RowVer
        FROM amend_l l JOIN act_tx x USING (SalesOrderID)
        WHERE l.line_op IS NOT NULL
        """,
    )
    _run(
        con,
        """
        INSERT INTO stg_soh BY NAME
        WITH lines AS (
            SELECT SalesOrderID,
                   count(*) FILTER (WHERE line_op IS NOT NULL) AS n_changed,
                   CAST(coalesce(sum(CASE WHEN line_op = 'U' THEN new_qty ELSE OrderQty END
                                     * UnitPrice * (1 - UnitPriceDiscount))
                                 FILTER (WHERE line_op IS DISTINCT FROM 'D'), 0) AS DECIMAL(19,4)) AS SubTotal
            FROM amend_l GROUP BY SalesOrderID
        )
        SELECT 'amend' AS tx_kind, x.SalesOrderID AS tx_key, (coalesce(l.n_changed, 0) + 1)::INTEGER AS seq, 'U' AS op,
               x.tx_begin, x.tx_end,
               h.* EXCLUDE (RevisionNumber, SubTotal, TaxAmt, Freight, ModifiedDate, RowVer),
               least(h.RevisionNumber + 1, 255) AS RevisionNumber,
               coalesce(l.SubTotal, 0) AS SubTotal,
               CAST(coalesce(l.SubTotal, 0) * 0.08 AS DECIMAL(19,4)) AS TaxAmt,
               CAST(coalesce(l.SubTotal, 0) * 0.025 AS DECIMAL(19,4)) AS Freight,
               x.tx_begin AS ModifiedDate
        FROM act_tx x
        JOIN Sales.SalesOrderHeader h USING (SalesOrderID)
        LEFT JOIN lines l USING (SalesOrderID)
        WHERE x.action = 'amend'
        """,
    )
    # Status changes: shipping batches and cancellations.
    _run(
        con,
        f"""
        INSERT INTO stg_soh BY NAME
        SELECT x.action AS tx_kind, x.tx_key,
               row_number() OVER (PARTITION BY x.action, x.tx_key ORDER BY x.SalesOrderID)::INTEGER AS seq,
               'U' AS op, x.tx_begin, x.tx_end,
               h.* EXCLUDE (Status, ShipDate, ModifiedDate, RowVer),
               CASE WHEN x.action = 'cancel' THEN 6 ELSE a.next_status END AS Status,
               CASE WHEN x.action = 'progress' AND a.next_status = 5 THEN {D} ELSE h.ShipDate END AS ShipDate,
               x.tx_begin AS ModifiedDate
        FROM act_tx x
        JOIN act a USING (SalesOrderID)
        JOIN Sales.SalesOrderHeader h USING (SalesOrderID)
        WHERE x.action IN ('progress', 'cancel')
        """,
    )
    # Whole-order deletes: the lines, then the header, in one transaction.
    _run(
        con,
        """
        INSERT INTO stg_sod BY NAME
        SELECT 'delete' AS tx_kind, x.SalesOrderID AS tx_key,
               row_number() OVER (PARTITION BY x.SalesOrderID ORDER BY d.SalesOrderDetailID)::INTEGER AS seq,
               'D' AS op, x.tx_begin, x.tx_end, d.*
        FROM act_tx x JOIN Sales.SalesOrderDetail d USING (SalesOrderID)
        WHERE x.action = 'delete'
        """,
    )
    _run(
        con,
        """
        INSERT INTO stg_soh BY NAME
        SELECT 'delete' AS tx_kind, x.SalesOrderID AS tx_key,
               (1 + (SELECT count(*) FROM Sales.SalesOrderDetail d WHERE d.SalesOrderID = x.SalesOrderID))::INTEGER AS seq,
               'D' AS op, x.tx_begin, x.tx_end, h.*
        FROM act_tx x JOIN Sales.SalesOrderHeader h USING (SalesOrderID)
        WHERE x.action = 'delete'
        """,
    )
    _run(con, "DROP TABLE IF EXISTS temp.act_tx")


def _stage_customers(con: duckdb.DuckDBPyConnection, D: str, v: Volumes, seqs: dict[str, int]) -> None:
    nd, nr, nu = v.customer_deletes, v.customer_reinserts, v.customer_updates
    _run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE cust_pick AS
        SELECT c.*,
               row_number() OVER (ORDER BY hash('c_pick', {D}, c.CustomerID), c.CustomerID) AS rk,
               {_time_in_day(D, _u('c_time', D, 'c.CustomerID'), 1, 86_390)} AS t_begin,
               {_u('c_dur', D, 'c.CustomerID')} AS u_dur,
               {_u('c_what', D, 'c.CustomerID')} AS u_what,
               {_u('c_new', D, 'c.CustomerID')} AS u_new
        FROM dbo.Customer c
        """,
    )
    cols = _cols(CUSTOMER, "p")
    _run(
        con,
        f"""
        INSERT INTO stg_cust BY NAME
        SELECT 'cust_del' AS tx_kind, p.CustomerID AS tx_key, 1 AS seq, 'D' AS op,
               p.t_begin AS tx_begin, {_tx_end('p.t_begin', 'p.u_dur')} AS tx_end, {cols}
        FROM cust_pick p WHERE p.rk <= {nd}
        UNION ALL
        SELECT 'cust_reins', p.CustomerID, 1, 'D', p.t_begin, {_tx_end('p.t_begin', 'p.u_dur')}, {cols}
        FROM cust_pick p WHERE p.rk > {nd} AND p.rk <= {nd + nr}
        UNION ALL
        SELECT 'cust_reins', p.CustomerID, 2, 'I', p.t_begin, {_tx_end('p.t_begin', 'p.u_dur')}, {cols}
        FROM cust_pick p WHERE p.rk > {nd} AND p.rk <= {nd + nr}
        """,
    )
    cities = "[" + ", ".join("'" + c.replace("'", "''") + "'" for c, _ in _CITIES) + "]"
    countries = "[" + ", ".join(f"'{cc}'" for _, cc in _CITIES) + "]"
    city_ix = f"(1 + floor(p.u_new * {len(_CITIES)})::INTEGER)"
    _run(
        con,
        f"""
        INSERT INTO stg_cust BY NAME
        SELECT 'cust_upd' AS tx_kind, p.CustomerID AS tx_key, 1 AS seq, 'U' AS op,
               p.t_begin AS tx_begin, {_tx_end('p.t_begin', 'p.u_dur')} AS tx_end,
               p.CustomerID, p.FirstName, p.LastName,
               CASE WHEN p.u_what < 0.4
                    THEN lower(replace(p.FirstName || '.' || p.LastName, '''', '')) || (floor(p.u_new * 1000))::INTEGER::VARCHAR
                         || '@' || {_pick(_EMAIL_DOMAINS, _u('c_new_domain', D, 'p.CustomerID'))}
                    ELSE p.Email END AS Email,
               CASE WHEN p.u_what >= 0.4 AND p.u_what < 0.7 THEN list_element({cities}, {city_ix}) ELSE p.City END AS City,
               CASE WHEN p.u_what >= 0.4 AND p.u_what < 0.7 THEN list_element({countries}, {city_ix}) ELSE p.CountryRegion END AS CountryRegion,
               CASE WHEN p.u_what >= 0.7
                    THEN CASE WHEN p.u_new < 0.1 THEN NULL ELSE CAST((1 + floor(p.u_new * 40)) * 500 AS DECIMAL(19,4)) END
                    ELSE p.CreditLimit END AS CreditLimit,
               p.t_begin AS ModifiedDate
        FROM cust_pick p WHERE p.rk > {nd + nr} AND p.rk <= {nd + nr + nu}
        """,
    )
    _run(
        con,
        f"""
        INSERT INTO stg_cust BY NAME
        WITH n AS (
            SELECT i, {_time_in_day(D, _u('cn_time', D, 'i'), 1, 86_390)} AS t_begin, {_u('cn_dur', D, 'i')} AS u_dur
            FROM range({v.customer_inserts}) r(i)
        ), k AS (
            SELECT {seqs['CustomerID']} + row_number() OVER (ORDER BY t_begin, i) AS new_id, t_begin, u_dur FROM n
        )
        SELECT 'cust_ins' AS tx_kind, k.new_id AS tx_key, 1 AS seq, 'I' AS op,
               k.t_begin AS tx_begin, {_tx_end('k.t_begin', 'k.u_dur')} AS tx_end,
               {_customer_columns_sql('k.new_id', 'k.t_begin')}
        FROM k
        """,
    )
    _run(con, "DROP TABLE IF EXISTS temp.cust_pick")


def _commit_order(con: duckdb.DuckDBPyConnection, D: str, dord: int) -> None:
    """Number the day's CDC transactions in commit order; give the Sales ones a CT version."""
    ct_base = _one(con, "SELECT coalesce(max(version), 0) FROM ct.versions")
    _run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE tx AS
        WITH changes AS (
            SELECT tx_kind, tx_key, tx_begin, tx_end, seq, true AS is_ct FROM stg_soh
            UNION ALL SELECT tx_kind, tx_key, tx_begin, tx_end, seq, true FROM stg_sod
            UNION ALL SELECT tx_kind, tx_key, tx_begin, tx_end, seq, false FROM stg_cust
        ), t AS (
            SELECT tx_kind, tx_key, min(tx_begin) AS begin_time, max(tx_end) AS end_time,
                   max(seq) AS n_changes, bool_or(is_ct) AS is_ct
            FROM changes GROUP BY tx_kind, tx_key
        ), n AS (
            SELECT *, row_number() OVER (ORDER BY end_time, tx_kind, tx_key) AS t FROM t
        )
        SELECT *,
               CASE WHEN is_ct THEN {ct_base} + sum(is_ct::INTEGER) OVER (ORDER BY t ROWS UNBOUNDED PRECEDING) END AS ct_version
        FROM n
        """,
    )
    n_tx, max_changes, last_end = con.execute(
        f"SELECT count(*), max(n_changes), max(end_time) >= {D} + 1 FROM tx"
    ).fetchone()
    if max_changes is not None and max_changes + 2 > MAX_SLOT:
        raise SeedError(f"a transaction has {max_changes} changes; LSN slots hold at most {MAX_SLOT - 2}")
    if n_tx >= 1 << 24:
        raise SeedError(f"{n_tx} transactions in a day; RowVer leaves room for {1 << 24}")
    if last_end:
        raise SeedError("a transaction ended after midnight")
    _run(
        con,
        f"""
        INSERT INTO cdc.lsn_time_mapping
        SELECT {lsn_sql(str(dord), 't', 'n_changes + 2')}, begin_time, end_time,
               unhex(printf('0000%08X%08X', {dord}, t)), {lsn_sql(str(dord), 't', '1')}
        FROM tx ORDER BY t
        """,
    )
    _run(con, "INSERT INTO ct.versions SELECT ct_version, end_time FROM tx WHERE is_ct ORDER BY ct_version")


def _apply_changes(con: duckdb.DuckDBPyConnection, dord: int) -> None:
    """Write CDC and CT rows from the staged changes, then apply them to the tables."""
    for stg, ci in (("stg_cust", CDC_INSTANCES[0]), ("stg_soh", CDC_INSTANCES[1]), ("stg_sod", CDC_INSTANCES[2])):
        table = ci.table
        (pk,) = table.primary_key
        # RowVer: a database-wide counter in commit order; a delete's before-image keeps its own.
        replace = (
            f" REPLACE (CASE WHEN s.op = 'D' THEN s.RowVer ELSE ({dord}::BIGINT << 40) | (tx.t << 16) | s.seq END AS RowVer)"
            if "RowVer" in table.column_names
            else ""
        )
        _run(
            con,
            f"""
            CREATE OR REPLACE TEMP TABLE res AS
            SELECT s.*{replace}, tx.t, tx.ct_version,
                   {lsn_sql(str(dord), 'tx.t', 'tx.n_changes + 2')} AS start_lsn,
                   {lsn_sql(str(dord), 'tx.t', 's.seq + 1')} AS seqval
            FROM {stg} s JOIN tx USING (tx_kind, tx_key)
            """,
        )
        n = len(table.columns)
        full = "unhex('" + full_update_mask(n).hex().upper() + "')"
        mask = update_mask_sql(table.column_names, "b", "r")
        _run(
            con,
            f"""
            INSERT INTO {ci.change_table}
            SELECT start_lsn, NULL, seqval, CASE WHEN op = 'I' THEN 2 ELSE 1 END, {full}, {_cols(table)}, seq
            FROM res WHERE op IN ('I', 'D')
            UNION ALL
            SELECT r.start_lsn, NULL, r.seqval, 3, {mask}, {_cols(table, 'b')}, r.seq
            FROM res r JOIN {table.qualified} b USING ("{pk}") WHERE r.op = 'U'
            UNION ALL
            SELECT r.start_lsn, NULL, r.seqval, 4, {mask}, {_cols(table, 'r')}, r.seq
            FROM res r JOIN {table.qualified} b USING ("{pk}") WHERE r.op = 'U'
            """,
        )
        if table in CT_TABLES:
            log = ct_log_table(table)
            _run(
                con,
                f"""
                INSERT INTO {log}
                SELECT r.ct_version,
                       CASE WHEN r.op = 'I' THEN r.ct_version ELSE i.created END,
                       r.op, r."{pk}"
                FROM res r
                LEFT JOIN (SELECT "{pk}", max(SYS_CHANGE_VERSION) AS created FROM {log}
                           WHERE SYS_CHANGE_OPERATION = 'I'
                             AND "{pk}" IN (SELECT "{pk}" FROM res WHERE op <> 'I')
                           GROUP BY "{pk}") i USING ("{pk}")
                """,
            )
        # Deletes first: a delete and a re-insert of the same key in one day must end with the row.
        _run(
            con,
            f"DELETE FROM {table.qualified} AS b "
            f"USING (SELECT \"{pk}\" FROM res WHERE op = 'D') d WHERE b.\"{pk}\" = d.\"{pk}\"",
        )
        sets = ", ".join(f'"{c}" = r."{c}"' for c in table.column_names if c != pk)
        _run(
            con,
            f"UPDATE {table.qualified} AS b SET {sets} "
            f"FROM (SELECT * FROM res WHERE op = 'U') r WHERE b.\"{pk}\" = r.\"{pk}\"",
        )
        _run(con, f'INSERT INTO {table.qualified} SELECT {_cols(table)} FROM res WHERE op = \'I\' ORDER BY "{pk}"')
        _run(con, "DROP TABLE res")


def _post_journals(con: duckdb.DuckDBPyConnection, D: str, v: Volumes, seqs: dict[str, int]) -> None:
    nb = v.bad_journals_each
    _run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE gl_new AS
        WITH j AS (
            SELECT j, {_time_in_day(D, _u('gl_time', D, 'j'), 1, 86_390)} AS jt,
                   2 + floor({_u('gl_k', D, 'j')} * 4)::INTEGER AS k,
                   {_u('gl_dir', D, 'j')} < 0.5 AS debits_first,
                   {_pick(_JOURNAL_KINDS, _u('gl_kind', D, 'j'))} AS kind,
                   hash('gl_bad', {D}, j) AS hbad
            FROM range({v.journals}) r(j)
        ), jn AS (
            SELECT *, ({seqs['JournalID']} + row_number() OVER (ORDER BY jt, j))::INTEGER AS JournalID,
                   row_number() OVER (ORDER BY hbad, j) AS bad_rk
            FROM j
        ), l AS (
            SELECT jn.*, unnest(range(k)) AS line_no FROM jn
        ), a AS (
            SELECT l.*, line_no = k - 1 AS balancing,
                   CAST(round(10 + 49990 * {_cube(_u('gl_amt', D, 'JournalID', 'line_no'))}, 2) AS DECIMAL(19,4)) AS amt,
                   (1 + floor({_u('gl_acct', D, 'JournalID', 'line_no')} * 60))::INTEGER AS acct
            FROM l
        ), b AS (
            SELECT a.*,
                   CASE WHEN balancing
                        THEN sum(CASE WHEN balancing THEN 0 ELSE amt END) OVER (PARTITION BY JournalID)
                             + CASE WHEN bad_rk <= {nb} THEN CAST((1 + hbad % 9999) / 100.0 AS DECIMAL(19,4)) ELSE 0 END
                        ELSE amt END AS amount
            FROM a
        )
        SELECT ({seqs['EntryID']} + row_number() OVER (ORDER BY JournalID, line_no))::BIGINT AS EntryID,
               JournalID,
               CASE WHEN bad_rk BETWEEN {nb + 1} AND {2 * nb} AND line_no = 0 THEN {UNKNOWN_ACCOUNT_ID} ELSE acct END AS AccountID,
               {D} AS PostingDate,
               CAST(CASE WHEN balancing <> debits_first THEN amount ELSE 0 END AS DECIMAL(19,4)) AS Debit,
               CAST(CASE WHEN balancing = debits_first THEN amount ELSE 0 END AS DECIMAL(19,4)) AS Credit,
               kind || ' J' || JournalID::VARCHAR AS Description,
               jt AS ModifiedDate
        FROM b
        """,
    )
    _run(con, "INSERT INTO Finance.GLEntry SELECT * FROM gl_new ORDER BY EntryID")


def _plan_forecasts(con: duckdb.DuckDBPyConnection, D: str, v: Volumes, n_pop: int, first: bool) -> None:
    """Revise a few open forecasts, then add the new horizon day (the whole horizon on day one)."""
    lines_per_day = (v.orders + v.late_orders) * 4.0
    mean_qty = _expected_line_qty()
    h = FORECAST_HORIZON_DAYS
    plan_time = _time_in_day(D, _u("f_time", D, "ProductID"), 2 * 3600, 3 * 3600)
    _run(
        con,
        f"""
        UPDATE Planning.SkuForecast AS f
        SET PlannedQty = CAST(round(f.PlannedQty * (0.8 + 0.4 * {_u('f_rev_qty', D, 'f.ProductID', 'f.ForecastDate')})) AS INTEGER),
            ModifiedDate = {plan_time.replace('ProductID', 'f.ProductID')}
        WHERE f.ForecastDate BETWEEN {D} + 1 AND {D} + {h - 1}
          AND {_u('f_rev', D, 'f.ProductID', 'f.ForecastDate')} < 0.05
        """,
    )
    # Expected demand of the product of popularity rank r: lines a day x P(rank r) x mean qty,
    # with P(rank r) = sqrt((r+1)/N) - sqrt(r/N) for the rank floor(N u^2) the orders draw.
    _run(
        con,
        f"""
        INSERT INTO Planning.SkuForecast
        WITH f AS (
            SELECT p.ProductID, ({D} + k::INTEGER) AS ForecastDate,
                   {lines_per_day} * (sqrt((p.rk + 1) / {n_pop}) - sqrt(p.rk / {n_pop})) * {mean_qty} AS mu
            FROM pop p, range({0 if first else h}, {h + 1}) r(k)
        ), n AS (
            SELECT f.*, {_u('f_noise', 'f.ProductID', 'f.ForecastDate')} AS un,
                        {_u('f_noise2', 'f.ProductID', 'f.ForecastDate')} AS un2
            FROM f
        )
        SELECT ProductID, ForecastDate,
               CAST(round(mu * CASE WHEN un < 0.04 THEN 0.5 WHEN un < 0.08 THEN 1.7 ELSE 0.85 + 0.3 * un2 END) AS INTEGER),
               {plan_time}
        FROM n ORDER BY ProductID, ForecastDate
        """,
    )


def _change_prices(con: duckdb.DuckDBPyConnection, D: str, v: Volumes) -> None:
    """A few price changes late in the evening, after the day's orders were priced."""
    _run(
        con,
        f"""
        UPDATE Production.Product AS p
        SET ListPrice = CAST(round(p.ListPrice * c.f, 2) AS DECIMAL(19,4)),
            StandardCost = CAST(round(p.StandardCost * c.f, 2) AS DECIMAL(19,4)),
            ModifiedDate = c.t
        FROM (
            SELECT ProductID, 0.9 + 0.25 * {_u('price_f', D, 'ProductID')} AS f,
                   {_time_in_day(D, _u('price_t', D, 'ProductID'), 23 * 3600, 86_390)} AS t
            FROM pop ORDER BY hash('price', {D}, ProductID), ProductID LIMIT {v.price_changes}
        ) c
        WHERE p.ProductID = c.ProductID
        """,
    )


# ---------------------------------------------------------------------------------------------
# a region's inventory: a system-versioned temporal table
# ---------------------------------------------------------------------------------------------


def _seed_region_day(
    con: duckdb.DuckDBPyConnection, day: dt.date, region: str, index: int, first_day: dt.date
) -> None:
    cat = _region_alias(region)
    D = _date(day)
    r = f"'{region}'"
    if not _settings(con, cat):
        _run(con, f"USE {cat}")
        try:
            for stmt in inventory_ddl():
                _run(con, stmt)
        finally:
            _run(con, "USE erp")
        locations = [(index + 1) * 10 + j for j in range(LOCATIONS_PER_REGION)]
        settings = {
            "region": region,
            "locations": ",".join(map(str, locations)),
            "first_day": day.isoformat(),
            "generator_version": GENERATOR_VERSION,
        }
        con.executemany(f"INSERT INTO {cat}.demo.settings VALUES (?, ?)", sorted(settings.items()))
        loc_list = "[" + ", ".join(map(str, locations)) + "]"
        # The initial stock is in place at midnight of the region's first day.
        _run(
            con,
            f"""
            INSERT INTO {cat}.Production.ProductInventory
            WITH s AS (
                SELECT p.ProductID, unnest({loc_list}) AS LocationID
                FROM Production.Product p
                WHERE p.SellStartDate <= {D} AND (p.SellEndDate IS NULL OR p.SellEndDate > {D})
            )
            SELECT ProductID, LocationID::SMALLINT,
                   chr(65 + floor({_u('inv_shelf', r, 'ProductID', 'LocationID')} * 12)::INTEGER) AS Shelf,
                   floor({_u('inv_bin', r, 'ProductID', 'LocationID')} * 50)::UTINYINT AS Bin,
                   floor({_u('inv_qty', r, 'ProductID', 'LocationID')} * 500)::SMALLINT AS Quantity,
                   {_uuid('Production.ProductInventory', r, 'ProductID', 'LocationID')} AS rowguid,
                   {D}::TIMESTAMP AS ModifiedDate, erp_utc({D}::TIMESTAMP) AS ValidFrom,
                   TIMESTAMP '{END_OF_TIME}' AS ValidTo
            FROM s
            WHERE {_u('inv_stocked', r, 'ProductID', 'LocationID')} < 0.8
            ORDER BY ProductID, LocationID
            """,
        )
    _run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE inv_chg AS
        SELECT i.ProductID, i.LocationID,
               {_time_in_day(D, _u('inv_t', r, D, 'i.ProductID', 'i.LocationID'), 1, 86_390)} AS t,
               greatest(0, least(32000, i.Quantity + CASE WHEN d = 0 THEN 1 ELSE d END))::SMALLINT AS q
        FROM (SELECT *, floor({_u('inv_d', r, D, 'ProductID', 'LocationID')} * 120)::INTEGER - 50 AS d
              FROM {cat}.Production.ProductInventory) i
        WHERE {_u('inv_chg', r, D, 'i.ProductID', 'i.LocationID')} < 0.25
        """,
    )
    inv_cols = _cols(INVENTORY_TABLES[0], "i").replace('i."ValidTo"', 'erp_utc(c.t) AS "ValidTo"')
    _run(
        con,
        f"""
        INSERT INTO {cat}.Production.ProductInventoryHistory
        SELECT {inv_cols}
        FROM {cat}.Production.ProductInventory i JOIN inv_chg c USING (ProductID, LocationID)
        ORDER BY ProductID, LocationID
        """,
    )
    _run(
        con,
        f"""
        UPDATE {cat}.Production.ProductInventory AS i
        SET Quantity = c.q, ModifiedDate = c.t, ValidFrom = erp_utc(c.t)
        FROM inv_chg c
        WHERE i.ProductID = c.ProductID AND i.LocationID = c.LocationID
        """,
    )
    _run(con, f"INSERT INTO {cat}.demo.seeded_days VALUES ({D})")
    _run(con, "DROP TABLE temp.inv_chg")
