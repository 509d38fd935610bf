"""Data-quality rules of the finance close; assets yield them right after their writes.

Whether every close has its archive is also a standalone check: a close and its archive are
separate commits, and a run killed between them leaves a close without an archive and without
any check of its run having run.
"""

from decimal import Decimal

import dagster as dg
from delta.tables import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.defs.finance.close_history import GOLD_CLOSE, FinanceArchive, close_history
from mssql_lakehouse.lib.sources import ReconciliationFigures
from mssql_lakehouse.lib.transforms.ledger import ACCOUNT_LINE, TOTAL_LINE, closing_mismatches, journal_imbalances


def _sums(df: DataFrame, columns: list[str]) -> dict[str, Decimal]:
    row = df.agg(*[F.sum(c).cast("decimal(38,4)").alias(c) for c in columns]).collect()[0]
    return {c: row[c] if row[c] is not None else Decimal("0.0000") for c in columns}


def journals_balance(key: dg.AssetKey, entries: DataFrame, valid: DataFrame, quarantine: DataFrame) -> dg.AssetCheckResult:
    """Fails when any journal of the period did not balance; silver itself must hold none."""
    unbalanced = journal_imbalances(entries).orderBy("journal_id").collect()
    in_silver = journal_imbalances(valid).count()
    quarantined = {r["journal_id"] for r in quarantine.select("journal_id").distinct().collect()}
    return dg.AssetCheckResult(
        asset_key=key,
        check_name="journals_balance",
        passed=not unbalanced and in_silver == 0,
        metadata={
            "unbalanced_journals": len(unbalanced),
            "unbalanced_in_silver": in_silver,
            "all_unbalanced_quarantined": all(r["journal_id"] in quarantined for r in unbalanced),
            "sample": dg.MetadataValue.json(
                [{"journal_id": r["journal_id"], "debits": str(r["debits"]), "credits": str(r["credits"]),
                  "difference": str(r["difference"])} for r in unbalanced[:20]]
            ),
        },
    )


def entries_accounted_for(key: dg.AssetKey, entries: DataFrame, valid: DataFrame, quarantine: DataFrame) -> dg.AssetCheckResult:
    """Bronze's entry count and debit/credit sums equal silver's plus the quarantine's."""
    rejected = quarantine.select(
        F.get_json_object("record", "$.debit").cast("decimal(19,4)").alias("debit"),
        F.get_json_object("record", "$.credit").cast("decimal(19,4)").alias("credit"),
    )
    source = {"row_count": entries.count(), **_sums(entries, ["debit", "credit"])}
    kept = _sums(valid, ["debit", "credit"])
    out = _sums(rejected, ["debit", "credit"])
    landed = {"row_count": valid.count() + quarantine.count(), **{c: kept[c] + out[c] for c in ("debit", "credit")}}
    return dg.AssetCheckResult(
        asset_key=key,
        check_name="entries_accounted_for",
        passed=source == landed,
        metadata={**{f"bronze_{k}": str(v) for k, v in source.items()},
                  **{f"silver_plus_quarantine_{k}": str(v) for k, v in landed.items()}},
    )


def quarantine_count(key: dg.AssetKey, quarantine: DataFrame) -> dg.AssetCheckResult:
    reasons = {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    total = sum(reasons.values())
    return dg.AssetCheckResult(
        asset_key=key,
        check_name="quarantine_count",
        passed=total == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined": total, **{f"reason_{k}": v for k, v in sorted(reasons.items())}},
    )


def closing_is_opening_plus_movements(key: dg.AssetKey, tb: DataFrame) -> dg.AssetCheckResult:
    bad = closing_mismatches(tb).count()
    return dg.AssetCheckResult(
        asset_key=key, check_name="closing_is_opening_plus_movements", passed=bad == 0, metadata={"mismatched_lines": bad}
    )


def totals_match_silver(key: dg.AssetKey, tb: DataFrame, period_entries: DataFrame) -> dg.AssetCheckResult:
    """Account lines sum to the total line, debits and credits equal silver's, and the ledger balances."""
    silver = _sums(period_entries, ["debit", "credit"])
    lines = _sums(tb.where(F.col("line_type") == ACCOUNT_LINE), ["opening", "debits", "credits", "closing"])
    total_rows = tb.where(F.col("line_type") == TOTAL_LINE).collect()
    total = total_rows[0].asDict() if len(total_rows) == 1 else {}
    passed = (
        len(total_rows) == 1
        and lines["debits"] == silver["debit"]
        and lines["credits"] == silver["credit"]
        and all(total.get(c) == lines[c] for c in lines)
        and lines["debits"] == lines["credits"]
        and lines["opening"] == 0
        and lines["closing"] == 0
    )
    return dg.AssetCheckResult(
        asset_key=key,
        check_name="totals_match_silver",
        passed=passed,
        metadata={
            "silver_debits": str(silver["debit"]),
            "silver_credits": str(silver["credit"]),
            **{f"gold_{c}": str(v) for c, v in lines.items()},
            "total_lines": len(total_rows),
        },
    )


def opening_matches_source(
    key: dg.AssetKey, source: ReconciliationFigures, landed: ReconciliationFigures
) -> dg.AssetCheckResult:
    """The opening balances are complete and current: bronze holds every entry the ERP has posted
    before the period, as the ERP holds it now (an earlier period never closed, or changed in the
    ERP since it was closed, makes the opening wrong)."""
    differences = source.differences(landed)
    return dg.AssetCheckResult(
        asset_key=key,
        check_name="opening_matches_source",
        passed=not differences,
        metadata={
            **source.to_metadata("source_"),
            **landed.to_metadata("landed_"),
            **(
                {
                    "differences": dg.MetadataValue.json(differences),
                    "remedy": "close (or restate) the earlier periods that are missing or changed, then this one",
                }
                if differences
                else {}
            ),
        },
    )


@dg.asset_check(
    asset=GOLD_CLOSE,
    name="every_close_archived",
    description="Every close in the history of gold/financial_close has its archive copy. A run killed after "
    "the close's commit and before its archive leaves one without; the next close of the period archives it.",
    required_resource_keys={"spark", "tables", "finance_archive"},
)
def every_close_archived(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    spark = context.resources.spark.get_session()
    archive: FinanceArchive = context.resources.finance_archive
    history = close_history(spark, context.resources.tables.location(GOLD_CLOSE))
    missing = [r for r in history if not DeltaTable.isDeltaTable(spark, archive.path(r.reporting_period, r.close_number))]
    return dg.AssetCheckResult(
        passed=not missing,
        metadata={
            "closes": len(history),
            "closes_not_archived": dg.MetadataValue.json(
                [{"reporting_period": r.reporting_period, **r.as_dict()} for r in missing]
            ),
            **({"remedy": "run the period's close again: it archives the missing closes first, then restates"}
               if missing else {}),
        },
    )
