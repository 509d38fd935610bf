"""``Finance.GLAccount`` and ``Finance.GLEntry``: the chart of accounts, each day's journals (a few of them bad),
and the restatement of a posted entry."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from mssql_lakehouse_demo import db
from mssql_lakehouse_demo.generator.common import (
    Volumes,
    column_list,
    cube,
    pick,
    run,
    time_in_day,
    uniform,
)
from mssql_lakehouse_demo.schema import GL_ENTRY, erp_path

UNKNOWN_ACCOUNT_ID = 9999

_JOURNAL_KINDS = [
    "Sales invoice batch",
    "Supplier invoice",
    "Payroll run",
    "Bank fees",
    "Depreciation",
    "Inventory adjustment",
    "Accrual",
    "Customer receipt",
    "Intercompany charge",
    "Tax provision",
]

# (AccountType, NormalBalance, names): 12 + 10 + 5 + 12 + 21 = 60 accounts.
_ACCOUNT_GROUPS = [
    (
        "Asset",
        "D",
        1000,
        [
            "Cash",
            "Petty Cash",
            "Bank - Operating",
            "Bank - Payroll",
            "Accounts Receivable",
            "Allowance for Doubtful Accounts",
            "Inventory - Finished Goods",
            "Inventory - Components",
            "Prepaid Expenses",
            "Equipment",
            "Accumulated Depreciation",
            "Vehicles",
        ],
    ),
    (
        "Liability",
        "C",
        2000,
        [
            "Accounts Payable",
            "Accrued Liabilities",
            "Wages Payable",
            "Sales Tax Payable",
            "Income Tax Payable",
            "Customer Deposits",
            "Deferred Revenue",
            "Short-term Loan",
            "Long-term Loan",
            "Lease Liability",
        ],
    ),
    (
        "Equity",
        "C",
        3000,
        [
            "Share Capital",
            "Share Premium",
            "Retained Earnings",
            "Current Year Earnings",
            "Dividends",
        ],
    ),
    (
        "Revenue",
        "C",
        4000,
        [
            "Sales - Bikes",
            "Sales - Components",
            "Sales - Clothing",
            "Sales - Accessories",
            "Service Revenue",
            "Freight Income",
            "Sales Returns",
            "Sales Discounts",
            "Interest Income",
            "FX Gains",
            "Rental Income",
            "Other Income",
        ],
    ),
    (
        "Expense",
        "D",
        5000,
        [
            "Cost of Goods Sold",
            "Freight Out",
            "Salaries",
            "Payroll Taxes",
            "Benefits",
            "Rent",
            "Utilities",
            "Insurance",
            "Office Supplies",
            "Software",
            "Marketing",
            "Travel",
            "Professional Fees",
            "Bank Charges",
            "Depreciation Expense",
            "Repairs",
            "Telephone",
            "Training",
            "Bad Debt Expense",
            "FX Losses",
            "Income Tax Expense",
        ],
    ),
]


def create_accounts(con: duckdb.DuckDBPyConnection, first_day: dt.date) -> None:
    """The chart of accounts, opened well before the first day."""
    accounts = []
    account_id = 0
    for account_type, normal, base, names in _ACCOUNT_GROUPS:
        for k, name in enumerate(names):
            account_id += 1
            accounts.append(
                (
                    account_id,
                    str(base + 10 * k),
                    name,
                    account_type,
                    normal,
                    dt.datetime.combine(first_day, dt.time()) - dt.timedelta(days=400),
                )
            )
    con.executemany("INSERT INTO Finance.GLAccount VALUES (?, ?, ?, ?, ?, ?)", accounts)


def post_journals(con: duckdb.DuckDBPyConnection, D: str, v: Volumes, seqs: dict[str, int]) -> None:
    nb = v.bad_journals_each
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE gl_new AS
        WITH j AS (
            SELECT j, {time_in_day(D, uniform("gl_time", D, "j"), 1, 86_390)} AS jt,
                   2 + floor({uniform("gl_k", D, "j")} * 4)::INTEGER AS k,
                   {uniform("gl_dir", D, "j")} < 0.5 AS debits_first,
                   {pick(_JOURNAL_KINDS, uniform("gl_kind", D, "j"))} AS kind,
                   hash('gl_bad', {D}, j) AS hbad
            FROM range({v.journals}) r(j)
        ), jn AS (
            SELECT *, ({seqs["JournalID"]} + row_number() OVER (ORDER BY jt, j))::INTEGER AS JournalID,
                   row_number() OVER (ORDER BY hbad, j) AS bad_rk
            FROM j
        ), l AS (
            SELECT jn.*, unnest(range(k)) AS line_no FROM jn
        ), a AS (
            SELECT l.*, line_no = k - 1 AS balancing,
                   CAST(round(10 + 49990 * {cube(uniform("gl_amt", D, "JournalID", "line_no"))}, 2)
                        AS DECIMAL(19,4)) AS amt,
                   (1 + floor({uniform("gl_acct", D, "JournalID", "line_no")} * 60))::INTEGER AS acct
            FROM l
        ), b AS (
            SELECT a.*,
                   CASE WHEN balancing
                        THEN sum(CASE WHEN balancing THEN 0 ELSE amt END) OVER (PARTITION BY JournalID)
                             + CASE WHEN bad_rk <= {nb} THEN CAST((1 + hbad % 9999) / 100.0 AS DECIMAL(19,4)) ELSE 0 END
                        ELSE amt END AS amount
            FROM a
        )
        SELECT ({seqs["EntryID"]} + row_number() OVER (ORDER BY JournalID, line_no))::BIGINT AS EntryID,
               JournalID,
               CASE WHEN bad_rk BETWEEN {nb + 1} AND {2 * nb} AND line_no = 0 THEN {UNKNOWN_ACCOUNT_ID}
                    ELSE acct END AS AccountID,
               {D} AS PostingDate,
               CAST(CASE WHEN balancing <> debits_first THEN amount ELSE 0 END AS DECIMAL(19,4)) AS Debit,
               CAST(CASE WHEN balancing = debits_first THEN amount ELSE 0 END AS DECIMAL(19,4)) AS Credit,
               kind || ' J' || JournalID::VARCHAR AS Description,
               jt AS ModifiedDate
        FROM b
        """,
    )
    run(con, "INSERT INTO Finance.GLEntry SELECT * FROM gl_new ORDER BY EntryID")


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
            f"SELECT {column_list(GL_ENTRY)} FROM Finance.GLEntry WHERE EntryID = ?", [entry_id]
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
