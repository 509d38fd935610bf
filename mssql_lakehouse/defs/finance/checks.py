"""Every check of the finance close, declared here in one form: ``dg.AssetCheckSpec``, with the
rules the close's assets evaluate.

- In-step checks need what only the asset's step holds (the extraction's figures, the ledger it
  just validated, the close it just wrote): each asset takes its specs from a builder below
  (``check_specs=``) and yields the rule's result right after its write.
- Whether every close has its archive is a standalone ``@dg.multi_asset_check``: a close and its
  archive are separate commits, and a run killed between them leaves a close without an archive
  and without any check of its run having run.
- Ready-made checks: column-schema changes on silver and gold (``check_rules``), and the close's
  freshness after its business day, with the sensor that evaluates it.
"""

from collections.abc import Sequence
from decimal import Decimal

import dagster as dg
from delta.tables import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.defs.finance.close_history import GOLD_CLOSE, FinanceArchive, close_history
from mssql_lakehouse.lib.check_rules import freshness_checks_sensor, layer_keys
from mssql_lakehouse.lib.sources import ReconciliationFigures
from mssql_lakehouse.lib.transforms.ledger import ACCOUNT_LINE, TOTAL_LINE, closing_mismatches, journal_imbalances

# The close runs on its business day at the close time (06:00 by default). Cron cannot say "Nth
# business day", so the deadline is noon of the day after the latest calendar day the Nth
# business day can fall on (a month starting on a Saturday puts it on day N + 2).
DEADLINE_HOUR = 12


# -- in-step checks (specs of the asset that evaluates them) ------------------------------------


def extraction_checks(asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "reconciles_with_source",
            asset=asset,
            description="Row count and amount sums equal the source's for the period.",
        )
    ]


def gl_silver_checks(entries: dg.AssetKey, quarantine: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "journals_balance",
            asset=entries,
            description="Every journal of the period balances (debits = credits); unbalanced ones are quarantined"
            " and fail this check.",
        ),
        dg.AssetCheckSpec(
            "entries_accounted_for",
            asset=entries,
            description="Silver plus quarantine hold exactly bronze's entries and amounts.",
        ),
        dg.AssetCheckSpec(
            "quarantine_count", asset=quarantine, description="Entries quarantined for the period (warning)."
        ),
    ]


def financial_close_checks(close: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "closing_is_opening_plus_movements",
            asset=close,
            description="closing = opening + debits - credits on every line.",
        ),
        dg.AssetCheckSpec(
            "totals_match_silver",
            asset=close,
            description="Debits and credits equal silver's; the total line is the sum of the accounts;"
            " the ledger balances.",
        ),
        dg.AssetCheckSpec(
            "opening_matches_source",
            asset=close,
            description="Every entry the ERP has posted before the period is landed as the ERP holds it "
            "now: no earlier period is missing or changed since its close.",
        ),
        dg.AssetCheckSpec(
            "archived",
            asset=close,
            description="Every close of the period has an archive copy; this close's equals what was written.",
        ),
        dg.AssetCheckSpec(
            "retention_covers_audit_window",
            asset=close,
            description="Log and deleted-file retention are at least the audit window.",
        ),
    ]


# -- the rules the assets evaluate ---------------------------------------------------------------


def _sums(df: DataFrame, columns: list[str]) -> dict[str, Decimal]:
    row = df.agg(*[F.sum(c).cast("decimal(38,4)").alias(c) for c in columns]).collect()[0]
    return {c: row[c] if row[c] is not None else Decimal("0.0000") for c in columns}


def journals_balance(
    key: dg.AssetKey, entries: DataFrame, valid: DataFrame, quarantine: DataFrame
) -> dg.AssetCheckResult:
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
                [
                    {
                        "journal_id": r["journal_id"],
                        "debits": str(r["debits"]),
                        "credits": str(r["credits"]),
                        "difference": str(r["difference"]),
                    }
                    for r in unbalanced[:20]
                ]
            ),
        },
    )


def entries_accounted_for(
    key: dg.AssetKey, entries: DataFrame, valid: DataFrame, quarantine: DataFrame
) -> dg.AssetCheckResult:
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
        metadata={
            **{f"bronze_{k}": str(v) for k, v in source.items()},
            **{f"silver_plus_quarantine_{k}": str(v) for k, v in landed.items()},
        },
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
        asset_key=key,
        check_name="closing_is_opening_plus_movements",
        passed=bad == 0,
        metadata={"mismatched_lines": bad},
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


# -- standalone checks ---------------------------------------------------------------------------


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "every_close_archived",
            asset=GOLD_CLOSE,
            description="Every close in the history of gold/financial_close has its archive copy. A run killed after "
            "the close's commit and before its archive leaves one without; the next close of the period archives it.",
        )
    ],
    required_resource_keys={"spark", "tables", "finance_archive"},
)
def every_close_archived(context: dg.AssetCheckExecutionContext):
    spark = context.resources.spark.get_session()
    archive: FinanceArchive = context.resources.finance_archive
    history = close_history(spark, context.resources.tables.location(GOLD_CLOSE))
    missing = [
        r for r in history if not DeltaTable.isDeltaTable(spark, archive.path(r.reporting_period, r.close_number))
    ]
    yield dg.AssetCheckResult(
        asset_key=GOLD_CLOSE,
        check_name="every_close_archived",
        passed=not missing,
        metadata={
            "closes": len(history),
            "closes_not_archived": dg.MetadataValue.json(
                [{"reporting_period": r.reporting_period, **r.as_dict()} for r in missing]
            ),
            **(
                {"remedy": "run the period's close again: it archives the missing closes first, then restates"}
                if missing
                else {}
            ),
        },
    )


# -- ready-made checks ---------------------------------------------------------------------------


def freshness_checks(
    assets: Sequence[dg.AssetsDefinition], timezone: str, close_business_day: int
) -> Sequence[dg.AssetChecksDefinition]:
    """Each gold table holds the month that ended, once the close's business day has surely passed."""
    deadline_cron = f"0 {DEADLINE_HOUR} {close_business_day + 3} * *"
    return dg.build_time_partition_freshness_checks(
        assets=layer_keys(assets, "gold"), deadline_cron=deadline_cron, timezone=timezone
    )


def finance_freshness_checks_sensor(checks: Sequence[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    """Evaluates the close's freshness; stopped by default like the close schedule that makes it
    fresh, so a deployment that closes by hand is not told its close is overdue."""
    return freshness_checks_sensor(checks, "finance_freshness_checks_sensor", dg.DefaultSensorStatus.STOPPED)
