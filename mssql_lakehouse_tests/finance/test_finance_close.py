"""The finance close end to end: demo ERP -> bronze -> silver -> gold, closed, restated, archived, audited.

The tests share one lakehouse and run in order: August is closed (it gives September its
opening balances), September is closed, a September ledger entry is changed in the ERP and
September is restated.
"""

import datetime as dt
import json
import re

import pytest
from click.testing import CliRunner
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from mssql_lakehouse.cli.audit import audit
from mssql_lakehouse.defs.finance.close_history import close_history
from mssql_lakehouse_demo import update_gl_entry

PERIOD = "2026-09"


def trial_balance(df) -> dict:
    return {r.account_number: (r.opening, r.debits, r.credits, r.closing) for r in df.collect()}


@pytest.fixture(scope="module")
def lh(make_finance_lakehouse):
    lh = make_finance_lakehouse("finance")
    lh.seed(dt.date(2026, 8, 31), days=3)
    lh.august = lh.close("2026-08")
    lh.first = lh.close(PERIOD)
    lh.first_version = DeltaTable.forPath(lh.spark, lh.path("gold", "financial_close")).history(1).collect()[0].version
    lh.first_tb = trial_balance(lh.table("gold", "financial_close").where(f"reporting_period = '{PERIOD}'"))
    # Restatement in the ERP: a balanced September entry moves to another account.
    silver = lh.table("silver", "gl_entries").where("posting_date >= DATE'2026-09-01'").orderBy("entry_id").collect()
    lh.changed = silver[0]
    other = 2 if lh.changed.account_id != 2 else 3
    update_gl_entry(lh.demo_dir, lh.changed.entry_id, account_id=other)
    lh.other_account = other
    lh.second = lh.close(PERIOD)
    return lh


def audit_output(*args: str) -> str:
    result = CliRunner().invoke(audit, ["close", "--period", PERIOD, *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def printed_trial_balance(output: str) -> dict:
    rows = {}
    for line in output.splitlines():
        m = re.match(r"^\s+(\d+)\s+.*?\s+(-?\d+\.\d{4})\s+(-?\d+\.\d{4})\s+(-?\d+\.\d{4})\s+(-?\d+\.\d{4})\s*$", line)
        if m:
            rows[m.group(1)] = tuple(m.group(i) for i in range(2, 6))
    return rows


def as_text(tb: dict) -> dict:
    return {k: tuple(str(v) for v in vals) for k, vals in tb.items() if k is not None}


def test_the_restatement_changed_the_numbers(lh):
    restated = trial_balance(lh.table("gold", "financial_close").where(f"reporting_period = '{PERIOD}'"))
    assert restated != lh.first_tb
    assert restated[None] == lh.first_tb[None]  # moving an entry between accounts keeps the totals


def test_audit_shows_the_first_close_for_close_1_and_the_restated_numbers_for_close_2(lh):
    first = audit_output("--as-of-close", "1")
    assert "close 1," in first and printed_trial_balance(first) == as_text(lh.first_tb)
    restated_tb = trial_balance(lh.table("gold", "financial_close").where(f"reporting_period = '{PERIOD}'"))
    second = audit_output("--as-of-close", "2")
    assert "close 2 (restatement)" in second and printed_trial_balance(second) == as_text(restated_tb)
    assert printed_trial_balance(audit_output("--as-of-version", str(lh.first_version))) == as_text(lh.first_tb)
    assert printed_trial_balance(audit_output()) == as_text(restated_tb)
    history = [line.split() for line in second.splitlines() if re.match(r"^\s+[12]\s+\d+\s+\d{4}-", line)]
    assert [(h[0], h[4], h[5]) for h in history] == [("1", "no", lh.first.run_id), ("2", "yes", lh.second.run_id)]


def test_audit_as_of_a_time_shows_the_close_in_effect_then(lh):
    first, second = close_history(lh.spark, lh.location("gold", "financial_close"), PERIOD)
    between = first.timestamp + (second.timestamp - first.timestamp) / 2
    assert printed_trial_balance(audit_output("--as-of-timestamp", between.isoformat())) == as_text(lh.first_tb)
    # The same instant written in another zone picks the same close.
    in_berlin = between.replace(tzinfo=dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert "close 1," in audit_output("--as-of-timestamp", in_berlin.isoformat())
    assert "close 2 (restatement)" in audit_output(
        "--as-of-timestamp", (second.timestamp + dt.timedelta(seconds=1)).isoformat()
    )
    before = CliRunner().invoke(
        audit, ["close", "--period", PERIOD, "--as-of-timestamp", (first.timestamp - dt.timedelta(days=1)).isoformat()]
    )
    assert before.exit_code != 0 and "not closed yet" in before.output


def test_delta_history_of_gold_shows_both_closes_with_their_tags(lh):
    history = DeltaTable.forPath(lh.spark, lh.path("gold", "financial_close")).history().collect()
    tags = [json.loads(h.userMetadata) for h in history if h.userMetadata and "close_number" in h.userMetadata]
    september = sorted((t for t in tags if t["reporting_period"] == PERIOD), key=lambda t: t["close_number"])
    assert [(t["close_number"], t["restatement"], t["dagster_run_id"]) for t in september] == [
        (1, False, lh.first.run_id),
        (2, True, lh.second.run_id),
    ]
    assert all(t["source_extracted_at"] and t["partitions"] == PERIOD for t in september)
    # The first close is still there, unchanged, by time travel.
    assert (
        trial_balance(lh.table("gold", "financial_close", lh.first_version).where(f"reporting_period = '{PERIOD}'"))
        == lh.first_tb
    )


def test_the_archive_holds_both_closes_as_their_own_tables(lh):
    gold_now = lh.table("gold", "financial_close").where(f"reporting_period = '{PERIOD}'")
    first = lh.spark.read.format("delta").load(
        str(lh.archive_root / "financial_close" / f"period={PERIOD}" / "close=1")
    )
    second = lh.spark.read.format("delta").load(
        str(lh.archive_root / "financial_close" / f"period={PERIOD}" / "close=2")
    )
    assert trial_balance(first) == lh.first_tb
    assert second.exceptAll(gold_now).isEmpty() and gold_now.exceptAll(second).isEmpty()
    assert (lh.archive_root / "financial_close" / "period=2026-08" / "close=1").exists()


def test_an_unbalanced_journal_is_quarantined_and_the_check_fails(lh):
    quarantine = lh.table("silver", "gl_quarantine").collect()
    reasons = {r.reason for r in quarantine}
    assert {"journal_unbalanced", "unknown_account", "journal_has_rejected_entry"} <= reasons
    unbalanced = {r.journal_id for r in quarantine if r.reason == "journal_unbalanced"}
    silver_journals = {r.journal_id for r in lh.table("silver", "gl_entries").select("journal_id").distinct().collect()}
    assert unbalanced and not unbalanced & silver_journals
    balance = (
        lh.table("silver", "gl_entries")
        .groupBy("journal_id")
        .agg(F.sum("debit").alias("d"), F.sum("credit").alias("c"))
    )
    assert balance.where("d != c").count() == 0
    for result in (lh.august, lh.first, lh.second):
        failed = {
            (e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations() if not e.passed
        }
        assert failed == {("silver/gl_entries", "journals_balance"), ("silver/gl_quarantine", "quarantine_count")}


def test_opening_balances_are_the_closing_of_the_earlier_period(lh):
    gold = lh.table("gold", "financial_close")
    august = {r.account_number: r.closing for r in gold.where("reporting_period = '2026-08'").collect()}
    september = {r.account_number: r.opening for r in gold.where(f"reporting_period = '{PERIOD}'").collect()}
    assert september == august and any(v != 0 for v in august.values() if v is not None)


def test_amounts_are_decimal_end_to_end(lh):
    assert lh.table("bronze", "gl_entries").schema["Debit"].dataType.simpleString() == "decimal(19,4)"
    assert lh.table("silver", "gl_entries").schema["credit"].dataType.simpleString() == "decimal(19,4)"
    gold = lh.table("gold", "financial_close").schema
    assert {gold[c].dataType.simpleString() for c in ("opening", "debits", "credits", "closing")} == {"decimal(38,4)"}


def test_retention_keeps_closes_and_vacuum_cannot_silently_remove_them(lh):
    detail = DeltaTable.forPath(lh.spark, lh.path("gold", "financial_close")).detail().collect()[0]
    assert detail.properties["delta.deletedFileRetentionDuration"] == "interval 2555 days"
    assert detail.properties["delta.logRetentionDuration"] == "interval 2555 days"
    with pytest.raises(Exception, match=r"(?i)retention"):
        lh.spark.sql(f"VACUUM delta.`{lh.path('gold', 'financial_close')}` RETAIN 0 HOURS")


def test_grant_statements_are_shown_as_a_dry_run_on_the_materialization(lh):
    materialization = next(
        e.event_specific_data.materialization
        for e in lh.second.all_events
        if e.is_step_materialization and e.asset_key.to_user_string() == "gold/financial_close"
    )
    shown = materialization.metadata["grant_statements"].value
    assert "GRANT SELECT ON TABLE lakehouse.gold.financial_close TO `finance_readers`" in shown
    assert materialization.metadata["grants_applied"].value is False


def test_a_close_whose_earlier_period_changed_in_the_erp_fails_the_opening_check(lh):
    # Runs last: it restates September once more, after August changed in the ERP without a new close.
    august = lh.table("bronze", "gl_entries").where("PostingDate < DATE'2026-09-01'").orderBy("EntryID").first()
    update_gl_entry(lh.demo_dir, august.EntryID, debit=august.Debit + 1)
    third = lh.close(PERIOD)
    evaluation = next(e for e in third.get_asset_check_evaluations() if e.check_name == "opening_matches_source")
    assert not evaluation.passed
    assert any(d.startswith("sum of Debit") for d in evaluation.metadata["differences"].value)
    for result in (lh.august, lh.first, lh.second):
        assert all(e.passed for e in result.get_asset_check_evaluations() if e.check_name == "opening_matches_source")
