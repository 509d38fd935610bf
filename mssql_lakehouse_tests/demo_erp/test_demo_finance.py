"""The ledger balances except the injected journals, and an entry can be restated."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from mssql_lakehouse_demo import Volumes, content_hashes, erp_path, seed, update_gl_entry

from ._helpers import SCALE, SEEDED_DAYS, START, rows, scalar


def test_journals_balance_except_one_injected_per_day(erp: duckdb.DuckDBPyConnection) -> None:
    unbalanced = rows(
        erp,
        """SELECT JournalID, any_value(PostingDate) AS day, sum(Debit) - sum(Credit) AS diff
           FROM Finance.GLEntry GROUP BY JournalID HAVING sum(Debit) <> sum(Credit)""",
    )
    n = Volumes(SCALE).bad_journals_each
    assert sorted(r["day"] for r in unbalanced) == sorted(SEEDED_DAYS * n)
    assert all(abs(r["diff"]) >= Decimal("0.01") for r in unbalanced)
    journals = scalar(erp, "SELECT count(DISTINCT JournalID) FROM Finance.GLEntry")
    assert journals >= len(SEEDED_DAYS) * Volumes(SCALE).journals


def test_one_entry_a_day_posts_to_an_unknown_account(erp: duckdb.DuckDBPyConnection) -> None:
    unknown = rows(
        erp,
        "SELECT PostingDate, AccountID FROM Finance.GLEntry "
        "WHERE AccountID NOT IN (SELECT AccountID FROM Finance.GLAccount)",
    )
    assert sorted(r["PostingDate"] for r in unknown) == SEEDED_DAYS
    assert {r["AccountID"] for r in unknown} == {9999}


def test_each_entry_is_a_debit_or_a_credit_posted_on_its_day(erp: duckdb.DuckDBPyConnection) -> None:
    assert scalar(erp, "SELECT count(*) FROM Finance.GLEntry WHERE (Debit <> 0) = (Credit <> 0)") == 0
    assert scalar(erp, "SELECT count(*) FROM Finance.GLEntry WHERE Debit < 0 OR Credit < 0") == 0
    assert scalar(erp, "SELECT count(*) FROM Finance.GLEntry WHERE PostingDate <> ModifiedDate::DATE") == 0
    types = dict(
        erp.execute("SELECT AccountType, any_value(NormalBalance) FROM Finance.GLAccount GROUP BY 1").fetchall()
    )
    assert types == {"Asset": "D", "Expense": "D", "Liability": "C", "Equity": "C", "Revenue": "C"}


def test_restating_an_entry_changes_that_row_only(tmp_path: Path) -> None:
    seed(tmp_path, START, 2, SCALE)
    with duckdb.connect(str(erp_path(tmp_path)), read_only=True) as con:
        entry = rows(con, "SELECT * FROM Finance.GLEntry WHERE Debit > 0 ORDER BY EntryID LIMIT 1")[0]
        latest = scalar(con, "SELECT max(ModifiedDate) FROM Finance.GLEntry")
    before = content_hashes(tmp_path)

    new = update_gl_entry(tmp_path, entry["EntryID"], debit=entry["Debit"] + Decimal("100.00"))

    assert new["Debit"] == entry["Debit"] + 100
    assert new["ModifiedDate"] > latest  # a ModifiedDate watermark sees the restatement
    after = content_hashes(tmp_path)
    assert {k for k in after if after[k] != before[k]} == {"erp.Finance.GLEntry"}
    with duckdb.connect(str(erp_path(tmp_path)), read_only=True) as con:
        stored = rows(con, "SELECT * FROM Finance.GLEntry WHERE EntryID = ?", [entry["EntryID"]])[0]
        assert stored == new
        assert scalar(con, "SELECT count(*) FROM Finance.GLEntry WHERE ModifiedDate > ?", [latest]) == 1


def test_a_restatement_is_validated(tmp_path: Path) -> None:
    seed(tmp_path, START, 1, SCALE)
    with pytest.raises(KeyError):
        update_gl_entry(tmp_path, 10**9, debit=1)
    with pytest.raises(ValueError, match="either a debit or a credit"):
        update_gl_entry(tmp_path, 1, debit=5, credit=5)
    at = dt.datetime(2024, 3, 10, 8, 30)
    assert update_gl_entry(tmp_path, 1, description="restated", modified_at=at)["ModifiedDate"] == at
