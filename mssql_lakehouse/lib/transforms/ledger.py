"""The general ledger from bronze to a trial balance: typing, validation, quarantine, balances.

Amounts are SQL Server ``money``: ``decimal(19,4)`` in bronze and silver, sums in
``decimal(38,4)``. Nothing here goes through a float, so a period's totals are
exact to the cent whatever the number of entries.

Sign convention: balances are debit-positive (``closing = opening + debits - credits``);
an account's ``NormalBalance`` is carried along for the reader, not applied.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

GL_ENTRY_TABLE = "Finance.GLEntry"
MONEY = "decimal(19,4)"
TOTAL = "decimal(38,4)"

# Line-level reasons, then the journal-level ones a line inherits from its journal.
OUTSIDE_PERIOD = "posting_date_outside_period"
UNKNOWN_ACCOUNT = "unknown_account"
INVALID_AMOUNT = "invalid_amount"
JOURNAL_UNBALANCED = "journal_unbalanced"
JOURNAL_HAS_REJECTED_ENTRY = "journal_has_rejected_entry"

ACCOUNT_LINE = "account"
TOTAL_LINE = "total"


def _zero() -> Column:
    return F.lit(0).cast(TOTAL)


def entries_from_bronze(bronze: DataFrame) -> DataFrame:
    """Typed, snake_case ledger entries; the extraction time is kept (it tags the close)."""
    return bronze.select(
        F.col("EntryID").cast("bigint").alias("entry_id"),
        F.col("JournalID").cast("int").alias("journal_id"),
        F.col("AccountID").cast("int").alias("account_id"),
        F.col("PostingDate").cast("date").alias("posting_date"),
        F.col("Debit").cast(MONEY).alias("debit"),
        F.col("Credit").cast(MONEY).alias("credit"),
        F.col("Description").cast("string").alias("description"),
        F.col("ModifiedDate").alias("modified_date"),
        F.col("_extracted_at").alias("extracted_at"),
    )


def accounts_from_bronze(bronze: DataFrame) -> DataFrame:
    """One row per GL account, snake_case."""
    return bronze.select(
        F.col("AccountID").cast("int").alias("account_id"),
        F.col("AccountNumber").cast("string").alias("account_number"),
        F.col("Name").cast("string").alias("account_name"),
        F.col("AccountType").cast("string").alias("account_type"),
        F.col("NormalBalance").cast("string").alias("normal_balance"),
    ).dropDuplicates(["account_id"])


def journal_imbalances(entries: DataFrame) -> DataFrame:
    """Journals whose debits and credits differ: ``journal_id, debits, credits, difference``."""
    return (
        entries.groupBy("journal_id")
        .agg(
            F.coalesce(F.sum("debit"), _zero()).cast(TOTAL).alias("debits"),
            F.coalesce(F.sum("credit"), _zero()).cast(TOTAL).alias("credits"),
        )
        .withColumn("difference", (F.col("debits") - F.col("credits")).cast(TOTAL))
        .where(F.col("difference") != 0)
    )


def validate_entries(
    entries: DataFrame, accounts: DataFrame, period_start: dt.date, period_end: dt.date
) -> tuple[DataFrame, DataFrame]:
    """Split the period's entries into valid ones and rejected ones (with a ``_reason``).

    A line is rejected when it posts outside ``[period_start, period_end)``, on an account not
    in ``accounts``, or with an invalid amount (null, negative, or both a debit and a credit).
    A journal is all or nothing: when it does not balance, or one of its lines is rejected, all
    its lines go to quarantine, so every journal in silver balances and no half journal skews
    the trial balance.
    """
    known = accounts.select("account_id", F.lit(True).alias("_known")).distinct()
    debit, credit = F.col("debit"), F.col("credit")
    line_reason = (
        F.when(
            F.col("posting_date").isNull()
            | (F.col("posting_date") < F.lit(period_start))
            | (F.col("posting_date") >= F.lit(period_end)),
            F.lit(OUTSIDE_PERIOD),
        )
        .when(F.col("_known").isNull(), F.lit(UNKNOWN_ACCOUNT))
        .when(
            debit.isNull() | credit.isNull() | (debit < 0) | (credit < 0) | ((debit != 0) & (credit != 0)),
            F.lit(INVALID_AMOUNT),
        )
    )
    journal = Window.partitionBy("journal_id")
    checked = (
        entries.join(known, "account_id", "left")
        .withColumn("_line_reason", line_reason)
        .withColumn(
            "_unbalanced",
            F.coalesce(F.sum(debit).over(journal), _zero()) != F.coalesce(F.sum(credit).over(journal), _zero()),
        )
        .withColumn("_journal_rejects", F.count(F.col("_line_reason")).over(journal))
        .withColumn(
            "_reason",
            F.coalesce(
                F.col("_line_reason"),
                F.when(F.col("_unbalanced"), F.lit(JOURNAL_UNBALANCED)),
                F.when(F.col("_journal_rejects") > 0, F.lit(JOURNAL_HAS_REJECTED_ENTRY)),
            ),
        )
        .drop("_known", "_line_reason", "_unbalanced", "_journal_rejects")
    )
    columns = entries.columns
    valid = checked.where(F.col("_reason").isNull()).select(*columns)
    rejected = checked.where(F.col("_reason").isNotNull()).select(*columns, "_reason")
    return valid, rejected


def quarantine_records(rejected: DataFrame, period_start: dt.date, record_columns: list[str]) -> DataFrame:
    """Rejected entries as quarantine records of the period that extracted them, with the row as JSON."""
    return rejected.select(
        F.lit(period_start).cast("date").alias("period_start"),
        F.lit(GL_ENTRY_TABLE).alias("source_table"),
        F.col("entry_id"),
        F.col("journal_id"),
        F.col("_reason").alias("reason"),
        F.to_json(F.struct(*record_columns)).alias("record"),
    )


def trial_balance(
    earlier: DataFrame, period: DataFrame, accounts: DataFrame, reporting_period: str, period_start: dt.date
) -> DataFrame:
    """Per account: opening (all earlier postings), the period's debits and credits, closing.

    Every account of ``accounts`` gets a line (zeros where nothing posted), plus one
    ``line_type = 'total'`` line with the period's totals. ``earlier`` and ``period`` are
    validated entries (silver) before and in the period.
    """
    opening = earlier.groupBy("account_id").agg(
        (F.coalesce(F.sum("debit"), _zero()) - F.coalesce(F.sum("credit"), _zero())).cast(TOTAL).alias("opening")
    )
    movements = period.groupBy("account_id").agg(
        F.coalesce(F.sum("debit"), _zero()).cast(TOTAL).alias("debits"),
        F.coalesce(F.sum("credit"), _zero()).cast(TOTAL).alias("credits"),
    )
    lines = (
        accounts.join(opening, "account_id", "left")
        .join(movements, "account_id", "left")
        .select(
            F.lit(ACCOUNT_LINE).alias("line_type"),
            "account_id",
            "account_number",
            "account_name",
            "account_type",
            "normal_balance",
            F.coalesce("opening", _zero()).alias("opening"),
            F.coalesce("debits", _zero()).alias("debits"),
            F.coalesce("credits", _zero()).alias("credits"),
        )
        .withColumn("closing", (F.col("opening") + F.col("debits") - F.col("credits")).cast(TOTAL))
    )
    totals = lines.agg(
        F.coalesce(F.sum("opening"), _zero()).cast(TOTAL).alias("opening"),
        F.coalesce(F.sum("debits"), _zero()).cast(TOTAL).alias("debits"),
        F.coalesce(F.sum("credits"), _zero()).cast(TOTAL).alias("credits"),
        F.coalesce(F.sum("closing"), _zero()).cast(TOTAL).alias("closing"),
    ).select(
        F.lit(TOTAL_LINE).alias("line_type"),
        F.lit(None).cast("int").alias("account_id"),
        F.lit(None).cast("string").alias("account_number"),
        F.lit("Period total").alias("account_name"),
        F.lit(None).cast("string").alias("account_type"),
        F.lit(None).cast("string").alias("normal_balance"),
        "opening",
        "debits",
        "credits",
        "closing",
    )
    tb = lines.unionByName(totals)
    return tb.select(
        F.lit(reporting_period).alias("reporting_period"),
        F.lit(period_start).cast("date").alias("period_start"),
        *[F.col(c) for c in tb.columns],
    )


def closing_mismatches(tb: DataFrame) -> DataFrame:
    """Trial balance lines where closing != opening + debits - credits."""
    return tb.where(F.col("closing") != (F.col("opening") + F.col("debits") - F.col("credits")))
