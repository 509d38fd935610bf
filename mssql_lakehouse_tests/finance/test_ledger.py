"""The ledger transforms, grants and schedule on small frames: exact decimals, validation, statements."""

import datetime as dt
from decimal import Decimal

import dagster as dg
from pyspark.sql import functions as F

from mssql_lakehouse.defs.finance.grants import FinanceGrants
from mssql_lakehouse.defs.finance.schedules import finance_close_after_month_end, nth_business_day
from mssql_lakehouse.lib.transforms import ledger
from mssql_lakehouse.settings import LakehouseSettings

SEP = dt.date(2026, 9, 1)
OCT = dt.date(2026, 10, 1)
ENTRY_SCHEMA = (
    "entry_id bigint, journal_id int, account_id int, posting_date date, debit decimal(19,4), "
    "credit decimal(19,4), description string, modified_date timestamp_ntz, extracted_at timestamp"
)
ACCOUNTS = [(1, "1000", "Cash", "Asset", "D"), (2, "4000", "Revenue", "Income", "C")]
ACCOUNT_SCHEMA = (
    "account_id int, account_number string, account_name string, account_type string, normal_balance string"
)


def entries(spark, rows):
    now = dt.datetime(2026, 10, 1)
    return spark.createDataFrame(
        [(i, j, a, d, Decimal(db), Decimal(cr), "x", now, now) for i, j, a, d, db, cr in rows], ENTRY_SCHEMA
    )


def test_a_million_cents_sum_to_exactly_ten_thousand(spark):
    million = spark.range(1_000_000).select(
        F.col("id").alias("entry_id"),
        (F.col("id") % 1000).cast("int").alias("journal_id"),
        F.lit(1).alias("account_id"),
        F.lit(SEP).alias("posting_date"),
        F.lit(Decimal("0.01")).cast("decimal(19,4)").alias("debit"),
        F.lit(Decimal("0")).cast("decimal(19,4)").alias("credit"),
    )
    accounts = spark.createDataFrame(ACCOUNTS, ACCOUNT_SCHEMA)
    tb = ledger.trial_balance(million.limit(0), million, accounts, "2026-09", SEP)
    cash = tb.where("account_id = 1").collect()[0]
    assert cash.debits == Decimal("10000.0000") and cash.closing == Decimal("10000.0000")
    assert tb.schema["debits"].dataType.simpleString() == "decimal(38,4)"
    # The same sum in floating point is not exact: what decimals protect against.
    as_float = million.agg(F.sum(F.col("debit").cast("double"))).collect()[0][0]
    assert as_float != 10000.0


def test_validation_quarantines_whole_journals_with_the_reason_per_line(spark):
    rows = [
        (1, 10, 1, SEP, "100.0100", "0"),
        (2, 10, 2, SEP, "0", "100.0100"),  # balanced
        (3, 11, 1, SEP, "5", "0"),
        (4, 11, 2, SEP, "0", "4.99"),  # unbalanced by 0.01
        (5, 12, 9999, SEP, "7", "0"),
        (6, 12, 2, SEP, "0", "7"),  # unknown account
        (7, 13, 1, OCT, "3", "0"),
        (8, 13, 2, SEP, "0", "3"),  # a line outside the period
        (9, 14, 1, SEP, "-2", "0"),
        (10, 14, 2, SEP, "0", "-2"),  # negative amounts
    ]
    valid, rejected = ledger.validate_entries(
        entries(spark, rows), spark.createDataFrame(ACCOUNTS, ACCOUNT_SCHEMA), SEP, OCT
    )
    assert sorted(r.entry_id for r in valid.collect()) == [1, 2]
    reasons = {r.entry_id: r._reason for r in rejected.collect()}
    assert reasons == {
        3: ledger.JOURNAL_UNBALANCED,
        4: ledger.JOURNAL_UNBALANCED,
        5: ledger.UNKNOWN_ACCOUNT,
        6: ledger.JOURNAL_HAS_REJECTED_ENTRY,
        7: ledger.OUTSIDE_PERIOD,
        8: ledger.JOURNAL_HAS_REJECTED_ENTRY,
        9: ledger.INVALID_AMOUNT,
        10: ledger.INVALID_AMOUNT,
    }


def test_trial_balance_opening_movements_closing_and_total_line(spark):
    accounts = spark.createDataFrame(ACCOUNTS, ACCOUNT_SCHEMA)
    earlier = entries(
        spark, [(1, 1, 1, dt.date(2026, 8, 5), "50.25", "0"), (2, 1, 2, dt.date(2026, 8, 5), "0", "50.25")]
    )
    period = entries(spark, [(3, 2, 1, SEP, "0", "20.10"), (4, 2, 2, SEP, "20.10", "0")])
    tb = {
        r.line_type + str(r.account_id): r
        for r in ledger.trial_balance(earlier, period, accounts, "2026-09", SEP).collect()
    }
    cash, revenue, total = tb["account1"], tb["account2"], tb["totalNone"]
    assert (cash.opening, cash.debits, cash.credits, cash.closing) == (
        Decimal("50.2500"),
        Decimal("0.0000"),
        Decimal("20.1000"),
        Decimal("30.1500"),
    )
    assert revenue.closing == Decimal("-30.1500")
    assert (total.opening, total.debits, total.credits, total.closing) == (
        Decimal("0.0000"),
        Decimal("20.1000"),
        Decimal("20.1000"),
        Decimal("0.0000"),
    )
    assert {r.reporting_period for r in tb.values()} == {"2026-09"}


def test_grant_statements_for_the_configured_roles_are_exactly_the_expected_ones():
    grants = FinanceGrants(
        catalog="lakehouse_prod", grants={"gold": {"finance_readers": ["SELECT"]}}, revoke_from=["account users"]
    )
    assert grants.statements(dg.AssetKey(["gold", "financial_close"])) == [
        "REVOKE ALL PRIVILEGES ON TABLE lakehouse_prod.gold.financial_close FROM `account users`",
        "GRANT SELECT ON TABLE lakehouse_prod.gold.financial_close TO `finance_readers`",
    ]
    assert grants.statements(dg.AssetKey(["silver", "gl_entries"])) == [
        "REVOKE ALL PRIVILEGES ON TABLE lakehouse_prod.silver.gl_entries FROM `account users`",
        "REVOKE ALL PRIVILEGES ON TABLE lakehouse_prod.silver.gl_entries FROM `finance_readers`",
    ]
    # Against the grants a table holds on Databricks: a hand-made grant is revoked, a held one not repeated.
    current = {"finance_readers": ["SELECT", "MODIFY"], "intern": ["SELECT"]}
    assert grants.statements(dg.AssetKey(["gold", "financial_close"]), current) == [
        "REVOKE MODIFY ON TABLE lakehouse_prod.gold.financial_close FROM `finance_readers`",
        "REVOKE ALL PRIVILEGES ON TABLE lakehouse_prod.gold.financial_close FROM `intern`",
    ]


def test_grants_refuse_what_is_not_a_privilege_or_an_identifier():
    import pytest

    with pytest.raises(ValueError):
        FinanceGrants(grants={"gold": {"x": ["SELECT; DROP TABLE y"]}}).statements(dg.AssetKey(["gold", "t"]))
    with pytest.raises(ValueError):
        FinanceGrants(catalog="a.b").statements(dg.AssetKey(["gold", "t"]))


def test_the_close_schedule_runs_on_the_third_business_day_for_the_month_that_ended():
    assert nth_business_day(2026, 10, 3) == dt.date(2026, 10, 5)  # Oct 1 is a Thursday
    schedule = finance_close_after_month_end(LakehouseSettings.from_env())
    with dg.instance_for_test() as instance:
        on_day = schedule(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=dt.datetime(2026, 10, 5, 6))
        )
        assert isinstance(on_day, dg.RunRequest)
        assert on_day.partition_key == "2026-09" and on_day.run_key == "finance-close-2026-09"
        off_day = schedule(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=dt.datetime(2026, 10, 2, 6))
        )
        assert isinstance(off_day, dg.SkipReason)
