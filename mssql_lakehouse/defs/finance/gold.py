"""Gold finance: the trial balance of a reporting period, closed immutably, tagged and archived.

Each run is one close of its period: a new Delta version of ``gold/financial_close`` that
replaces the period's rows (``replaceWhere``; the earlier close stays reachable by time
travel) and whose commit ``userMetadata`` carries the reporting period, the close number,
whether it is a restatement, the run id and the source extraction time. The close is also
archived as its own Delta table, and the table keeps its history for the audit window.
"""

import datetime as dt

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.defs.finance.bronze import GL_ACCOUNTS, GL_ENTRIES, GL_ENTRIES_SOURCE
from mssql_lakehouse.defs.finance.checks import (
    closing_is_opening_plus_movements,
    financial_close_checks,
    opening_matches_source,
    totals_match_silver,
)
from mssql_lakehouse.defs.finance.close_history import (
    GOLD_CLOSE,
    RETENTION_PROPERTIES,
    FinanceArchive,
    close_history,
    ensure_archived,
    ensure_retention,
    next_close_number,
    retention_days_of,
)
from mssql_lakehouse.defs.finance.common import FINANCE_MONTHLY, apply_grants, grant_statements, period_bounds
from mssql_lakehouse.defs.finance.silver import SILVER_ENTRIES
from mssql_lakehouse.lib.pools import FINANCE_CLOSE
from mssql_lakehouse.lib.sources import MssqlSource, frame_figures
from mssql_lakehouse.lib.transforms.ledger import accounts_from_bronze, trial_balance

FINANCIAL_CLOSE = GOLD_CLOSE
LEDGER_BEGINNING = dt.datetime(1900, 1, 1)


@dg.asset(
    key=FINANCIAL_CLOSE,
    ins={"entries": dg.AssetIn(SILVER_ENTRIES), "accounts": dg.AssetIn(GL_ACCOUNTS)},
    metadata={"partition_expr": "period_start"},
    check_specs=financial_close_checks(FINANCIAL_CLOSE),
    pool=FINANCE_CLOSE,
    **{
        **FINANCE_MONTHLY,
        "required_resource_keys": FINANCE_MONTHLY["required_resource_keys"] | {"tables", "finance_archive", "erp"},
    },
)
def financial_close(context: dg.AssetExecutionContext, entries: DataFrame, accounts: DataFrame):
    """Trial balance per account for the reporting period (opening, debits, credits, closing) and the period's totals.

    Opening balances are the closing of all earlier postings: the validated ledger (silver) of
    every earlier period. A re-run of a period is a restatement: close N+1, never an update of close N.
    """
    spark = context.resources.spark.get_session()
    archive: FinanceArchive = context.resources.finance_archive
    location = context.resources.tables.location(FINANCIAL_CLOSE)
    period, start, _ = period_bounds(context)

    history = close_history(spark, location, period)
    # A run killed after its close's commit left that close without an archive: write it first.
    repaired = [n for n, _, written in ensure_archived(spark, location, archive.root, history) if written]
    close_number = next_close_number(history)
    restatement = close_number > 1

    silver = context.resources.tables.location(SILVER_ENTRIES)
    earlier = silver.read(spark).where(F.col("posting_date") < F.lit(start))
    extracted_at = entries.agg(F.max("extracted_at")).collect()[0][0]
    tb = (
        trial_balance(earlier, entries, accounts_from_bronze(accounts), period, start)
        .withColumn("close_number", F.lit(close_number))
        .withColumn("restatement", F.lit(restatement))
        .withColumn("dagster_run_id", F.lit(context.run.run_id))
        .withColumn("source_extracted_at", F.lit(extracted_at).cast("timestamp"))
        .localCheckpoint()
    )
    properties = ensure_retention(spark, location, tb, archive.retention_days)
    statements, grant_metadata = grant_statements(context, FINANCIAL_CLOSE)
    tags = {
        "reporting_period": period,
        "close_number": close_number,
        "restatement": restatement,
        "source_extracted_at": extracted_at.isoformat() if extracted_at else None,
    }
    yield dg.Output(
        tb,
        metadata={
            "delta_commit_metadata": dg.MetadataValue.json(tags),
            "reporting_period": period,
            "close_number": close_number,
            "restatement": restatement,
            "earlier_closes": dg.MetadataValue.json([r.as_dict() for r in history]),
            "archives_repaired": dg.MetadataValue.json(repaired),
            **grant_metadata,
        },
    )
    apply_grants(context, statements)

    # Archive what the table now holds for this close, read back from its own version.
    history = close_history(spark, location, period)
    archived = ensure_archived(spark, location, archive.root, history)
    this_close = [r for r in history if r.close_number == close_number and r.run_id == context.run.run_id]
    archived_close = {n: path for n, path, _ in archived}
    same = False
    if this_close:
        copy = spark.read.format("delta").load(archived_close[close_number])
        same = copy.exceptAll(tb).isEmpty() and tb.exceptAll(copy).isEmpty()
    yield dg.AssetCheckResult(
        asset_key=FINANCIAL_CLOSE,
        check_name="archived",
        passed=bool(this_close) and same and set(archived_close) == {r.close_number for r in history},
        metadata={
            "archive_path": archived_close.get(close_number, ""),
            "delta_version": this_close[0].version if this_close else -1,
            "closes_archived": len(archived_close),
        },
    )
    yield closing_is_opening_plus_movements(FINANCIAL_CLOSE, tb)
    yield totals_match_silver(FINANCIAL_CLOSE, tb, entries)
    yield opening_is_complete(context, start)
    days = {p: retention_days_of(properties, p) for p in RETENTION_PROPERTIES}
    yield dg.AssetCheckResult(
        asset_key=FINANCIAL_CLOSE,
        check_name="retention_covers_audit_window",
        passed=all(d is not None and d >= archive.retention_days for d in days.values()),
        metadata={"audit_window_days": archive.retention_days, **{p: str(d) for p, d in days.items()}},
    )


def opening_is_complete(context: dg.AssetExecutionContext, start: dt.date) -> dg.AssetCheckResult:
    """Compare the ERP's ledger before the period with bronze's: the figures the opening balances rest on."""
    source: MssqlSource = context.resources.erp
    before = source.reconcile(GL_ENTRIES_SOURCE, window=(LEDGER_BEGINNING, dt.datetime.combine(start, dt.time())))
    spark = context.resources.spark.get_session()
    landed = context.resources.tables.location(GL_ENTRIES).read(spark).where(F.col("PostingDate") < F.lit(start))
    return opening_matches_source(FINANCIAL_CLOSE, before, frame_figures(landed, list(before.sums)))
