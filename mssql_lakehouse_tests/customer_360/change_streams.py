"""Generated change streams of dbo.Customer, both feeds' renderings of them, and an oracle.

A stream is a list of committed transactions (what happened in the source). The feeds
render it as SQL Server change-table rows or as Debezium events; the oracle applies it to
plain Python dicts in commit order. Nothing here uses Spark or the code under test's
transforms, so the oracle is independent of them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from mssql_lakehouse_demo.debezium_export import Column, Encoding, EventSettings, event_json

COLUMNS = ("CustomerID", "FirstName", "LastName", "Email", "City", "CountryRegion", "CreditLimit", "ModifiedDate")
SQL_TYPES = {
    "CustomerID": "int",
    "FirstName": "nvarchar(50)",
    "LastName": "nvarchar(50)",
    "Email": "nvarchar(256)",
    "City": "nvarchar(50)",
    "CountryRegion": "nchar(2)",
    "CreditLimit": "money",
    "ModifiedDate": "datetime2(7)",
}
SILVER = ("customer_id", "first_name", "last_name", "email", "city", "country_region", "credit_limit", "modified_date")

FIRST = ["Ann", "Bob", "Zoë", "李", "José", "O'Brien", "Émile", "😀 Joy", "Ana María"]
LAST = ["Smith", "Nguyễn", "Müller", "Σωκράτης", "Ng", "de la Cruz"]
CITIES = [("Paris", "FR"), ("Zürich", "CH"), ("東京", "JP"), ("Austin", "US"), ("São Paulo", "BR")]


@dataclass(frozen=True)
class Change:
    key: int
    op: str  # c, u, d, or k (update of the primary key: before has `key`, after the new key)
    before: dict | None
    after: dict | None


@dataclass(frozen=True)
class Transaction:
    day: dt.date
    number: int
    commit_time: dt.datetime
    changes: tuple[Change, ...]

    @property
    def day_ordinal(self) -> int:
        return (self.day - dt.date(1900, 1, 1)).days

    def lsn(self, slot: int) -> bytes:
        return self.day_ordinal.to_bytes(4, "big") + self.number.to_bytes(4, "big") + slot.to_bytes(2, "big")

    @property
    def commit_lsn(self) -> bytes:
        return self.lsn(len(self.changes) + 2)

    def change_lsn(self, index: int) -> bytes:
        return self.lsn(index + 2)


def ms(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass
class Generator:
    """Random but seeded: inserts, updates, deletes, re-inserts, key changes, several changes per transaction."""

    seed: int
    millisecond_values: bool = False  # ModifiedDate in whole ms (for time.precision.mode=connect)
    rng: random.Random = field(init=False)
    live: dict[int, dict] = field(default_factory=dict)
    dead: set[int] = field(default_factory=set)
    next_key: int = 1

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _row(self, key: int, moment: dt.datetime) -> dict:
        r = self.rng
        city, country = r.choice(CITIES)
        modified = moment - dt.timedelta(microseconds=r.randrange(1, 5_000_000))
        if self.millisecond_values:
            modified = ms(modified)
        return {
            "CustomerID": key,
            "FirstName": r.choice(FIRST),
            "LastName": r.choice(LAST),
            "Email": None if r.random() < 0.15 else f"c{key}.{r.randrange(1000)}@example.com",
            "City": None if r.random() < 0.1 else city,
            "CountryRegion": None if r.random() < 0.1 else country,
            "CreditLimit": None if r.random() < 0.2 else Decimal(r.randrange(-(10**10), 10**13)).scaleb(-4),
            "ModifiedDate": modified,
        }

    def _updated(self, row: dict, moment: dt.datetime) -> dict:
        fresh = self._row(row["CustomerID"], moment)
        columns = self.rng.sample(COLUMNS[1:-1], self.rng.randint(1, 3))
        return {**row, **{c: fresh[c] for c in columns}, "ModifiedDate": fresh["ModifiedDate"]}

    def _change(self, moment: dt.datetime, touched: list[int]) -> Change:
        r = self.rng
        if touched and r.random() < 0.3:
            key = r.choice(touched)  # another change of a key already changed in this transaction
            if key in self.live:
                return self._update_or_delete(key, moment)
            return self._insert(key, moment)
        roll = r.random()
        if not self.live or roll < 0.3:
            if self.dead and r.random() < 0.3:
                return self._insert(r.choice(sorted(self.dead)), moment)
            self.next_key += 1
            return self._insert(self.next_key - 1, moment)
        if roll < 0.36:
            old = r.choice(sorted(self.live))
            self.next_key += 1
            new = self.next_key - 1
            before = self.live.pop(old)
            self.dead.add(old)
            after = {**self._updated(before, moment), "CustomerID": new}
            self.live[new] = after
            return Change(old, "k", before, after)
        return self._update_or_delete(r.choice(sorted(self.live)), moment)

    def _insert(self, key: int, moment: dt.datetime) -> Change:
        row = self._row(key, moment)
        self.live[key] = row
        self.dead.discard(key)
        return Change(key, "c", None, row)

    def _update_or_delete(self, key: int, moment: dt.datetime) -> Change:
        before = self.live[key]
        if self.rng.random() < 0.25:
            del self.live[key]
            self.dead.add(key)
            return Change(key, "d", before, None)
        after = self._updated(before, moment)
        self.live[key] = after
        return Change(key, "u", before, after)

    def day(self, day: dt.date, transactions: int, max_changes: int = 4) -> list[Transaction]:
        seconds = sorted(self.rng.sample(range(1, 86_399_000_000), transactions))
        out = []
        for number, micro in enumerate(seconds, start=1):
            moment = dt.datetime.combine(day, dt.time()) + dt.timedelta(microseconds=micro)
            touched: list[int] = []
            changes = []
            for _ in range(self.rng.randint(1, max_changes)):
                change = self._change(moment, touched)
                touched.append(change.key if change.op != "k" else change.after["CustomerID"])
                changes.append(change)
            out.append(Transaction(day, number, moment, tuple(changes)))
        return out


def generate(seed: int, days: Sequence[dt.date], per_day: int = 6, **options) -> list[Transaction]:
    generator = Generator(seed, **options)
    return [t for day in days for t in generator.day(day, per_day)]


# -- feeds ----------------------------------------------------------------------------------------

SQLSERVER_SCHEMA = (
    "`__$start_lsn` binary, `__$seqval` binary, `__$operation` int, `__$update_mask` binary, "
    "`__$command_id` int, `__$tran_end_time` timestamp_ntz, CustomerID int, FirstName string, "
    "LastName string, Email string, City string, CountryRegion string, CreditLimit decimal(19,4), "
    "ModifiedDate timestamp_ntz"
)


def _values(row: dict) -> tuple:
    return tuple(row[c] for c in COLUMNS)


def _mask(before: dict | None, after: dict | None) -> bytes:
    bits = 0
    for i, c in enumerate(COLUMNS):
        if before is None or after is None or before[c] != after[c]:
            bits |= 1 << i
    return bits.to_bytes(1, "big")


def sqlserver_rows(transactions: Iterable[Transaction]) -> list[tuple]:
    """The change-table rows (``N'all update old'``) the source layer returns, in SQLSERVER_SCHEMA."""
    rows = []
    for t in transactions:
        for index, change in enumerate(t.changes, start=1):
            head = (t.commit_lsn, t.change_lsn(index))
            tail = (index, t.commit_time)
            mask = _mask(change.before, change.after)
            if change.op == "c":
                rows.append((*head, 2, mask, *tail, *_values(change.after)))
            elif change.op == "d":
                rows.append((*head, 1, mask, *tail, *_values(change.before)))
            else:  # u and k: an update's before and after rows
                rows.append((*head, 3, mask, *tail, *_values(change.before)))
                rows.append((*head, 4, mask, *tail, *_values(change.after)))
    return rows


DEFAULT_ENCODING = Encoding()  # Debezium's defaults: adaptive time precision, precise decimals


def debezium_lines(
    transactions: Iterable[Transaction],
    *,
    encoding: Encoding = DEFAULT_ENCODING,
    with_schema: bool = True,
    time_zone: str = "UTC",
    extra_types: dict[str, str] | None = None,
) -> list[str]:
    """The events a Debezium SQL Server connector emits for the transactions, in commit order.

    ``extra_types``: columns the source has beyond the declared ones, with their SQL types.
    """
    from mssql_lakehouse_demo.debezium_export import commit_millis

    types = {**SQL_TYPES, **(extra_types or {})}
    columns = [Column(c, t, optional=c != "CustomerID") for c, t in types.items()]
    settings = EventSettings(encoding=encoding, with_schema=with_schema)
    lines = []
    for t in transactions:
        for index, change in enumerate(t.changes, start=1):
            common = {
                "commit_lsn": t.commit_lsn,
                "change_lsn": t.change_lsn(index),
                "commit_ms": commit_millis(t.commit_time, time_zone),
                "columns": columns,
                "settings": settings,
            }
            if change.op == "k":
                lines.append(event_json(op="d", before=change.before, after=None, event_serial_no=2, **common))
                lines.append(event_json(op="c", before=None, after=change.after, event_serial_no=2, **common))
            else:
                serial = 2 if change.op == "u" else 1
                lines.append(
                    event_json(op=change.op, before=change.before, after=change.after, event_serial_no=serial, **common)
                )
    return lines


def at_least_once(lines: Sequence[str], rng: random.Random, duplicates: float = 0.2, tombstones: int = 3) -> list[str]:
    """Lines as an at-least-once feed delivers them: some twice, tombstones in between, order shuffled."""
    out = list(lines) + [line for line in lines if rng.random() < duplicates]
    out += ["null", "", '{"schema":null,"payload":null}'][:tombstones]
    rng.shuffle(out)
    return out


# -- oracle ---------------------------------------------------------------------------------------


def _silver(row: dict) -> tuple:
    return tuple(row[c] for c in COLUMNS)


def oracle(transactions: Iterable[Transaction]) -> tuple[list[tuple], list[tuple]]:
    """(history rows, current rows), applying the transactions once in commit order.

    History rows: business columns, valid_from, valid_to, is_current, valid_from_lsn, valid_to_lsn.
    Versions are per transaction (its last change of the key counts); times in whole ms.
    """
    versions: list[list] = []
    open_version: dict[int, int] = {}
    for t in sorted(transactions, key=lambda t: t.commit_lsn):
        net: dict[int, dict | None] = {}
        for change in t.changes:
            if change.op == "k":
                net[change.key] = None
                net[change.after["CustomerID"]] = change.after
            else:
                net[change.key] = change.after if change.op != "d" else None
        when, lsn = ms(t.commit_time), t.commit_lsn.hex().upper()
        for key, row in net.items():
            if key in open_version:
                version = versions[open_version.pop(key)]
                version[-4], version[-3], version[-1] = when, False, lsn
            if row is not None:
                open_version[key] = len(versions)
                versions.append([*_silver(row), when, None, True, lsn, None])
    # version layout: business..., valid_from, valid_to, is_current, valid_from_lsn, valid_to_lsn
    history = []
    for v in versions:
        *business, valid_from, valid_to, is_current, from_lsn, to_lsn = v
        history.append((*business, valid_from, valid_to, is_current, from_lsn, to_lsn))
    current = [(*tuple(v[: len(COLUMNS)]), v[len(COLUMNS)]) for v in history if v[len(COLUMNS) + 2]]
    return sorted(history, key=_order), sorted(current, key=_order)


def _order(row: tuple):
    return tuple((x is None, str(x)) for x in row)


def rows(df, columns: Sequence[str]) -> list[tuple]:
    return sorted((tuple(r) for r in df.select(*columns).collect()), key=_order)


HISTORY_COLUMNS = (*SILVER, "valid_from", "valid_to", "is_current", "valid_from_lsn", "valid_to_lsn")
CURRENT_COLUMNS = (*SILVER, "valid_from")


def with_extra_column(transactions: list[Transaction], name: str, value_of) -> list[Transaction]:
    """The same stream with a new column on every row image (a column added in the source)."""
    out = []
    for t in transactions:
        changes = tuple(
            replace(
                c,
                before=None if c.before is None else {**c.before, name: value_of(c.before)},
                after=None if c.after is None else {**c.after, name: value_of(c.after)},
            )
            for c in t.changes
        )
        out.append(replace(t, changes=changes))
    return out


# -- the demo ERP's CDC tables, filled with a generated stream ------------------------------------


def write_demo_cdc(path, transactions: Sequence[Transaction], days: Sequence[dt.date]) -> None:
    """An otherwise empty demo ERP whose ``dbo_Customer`` capture instance holds ``transactions``.

    Lays the rows out as the demo does (``cdc."dbo_Customer_CT"``, ``cdc.lsn_time_mapping``,
    ``cdc.change_tables``, ``cdc.captured_columns``, ``demo.seeded_days``), so the SQL Server
    feed reads them through the real source layer.
    """
    import duckdb

    from mssql_lakehouse_demo.schema import CDC_INSTANCES, erp_ddl

    path.parent.mkdir(parents=True, exist_ok=True)
    customer = next(ci for ci in CDC_INSTANCES if ci.name == "dbo_Customer")
    first = min(days)
    with duckdb.connect(str(path)) as con:
        for statement in erp_ddl():
            con.execute(statement)
        start = ((first - dt.date(1900, 1, 1)).days).to_bytes(4, "big") + bytes(4) + (1).to_bytes(2, "big")
        con.execute(
            "INSERT INTO cdc.change_tables VALUES (?, 'dbo_Customer', 'dbo', 'Customer', ?, ?, 0, NULL, true, "
            "false, NULL, 'PK_Customer', 'PRIMARY', ?, false)",
            [
                customer.object_id,
                start,
                customer.source_object_id,
                dt.datetime.combine(first, dt.time()) - dt.timedelta(minutes=5),
            ],
        )
        con.executemany(
            "INSERT INTO cdc.captured_columns VALUES (?, ?, ?, ?, ?, false)",
            [(customer.object_id, c, i, SQL_TYPES[c], i) for i, c in enumerate(COLUMNS, start=1)],
        )
        con.executemany(
            'INSERT INTO cdc."dbo_Customer_CT" VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            [(r[0], r[1], r[2], r[3], *r[6:], r[4]) for r in sqlserver_rows(transactions)],
        )
        con.executemany(
            "INSERT INTO cdc.lsn_time_mapping VALUES (?, ?, ?, ?, ?)",
            [
                (t.commit_lsn, t.commit_time - dt.timedelta(milliseconds=3), t.commit_time, t.lsn(0), t.lsn(1))
                for t in transactions
            ],
        )
        con.executemany("INSERT INTO demo.seeded_days VALUES (?)", [(d,) for d in sorted(set(days))])
