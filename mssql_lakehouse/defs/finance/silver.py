"""Silver finance: the period's validated ledger entries, and the quarantine of the rest.

A journal is all or nothing: unbalanced journals, and journals with a line outside the
period, on an unknown account or with an invalid amount, go to ``silver/gl_quarantine``
with the reason per line; every journal left in ``silver/gl_entries`` balances.
"""

import dagster as dg
from pyspark.sql import DataFrame

from mssql_lakehouse.defs.finance.bronze import GL_ACCOUNTS, GL_ENTRIES
from mssql_lakehouse.defs.finance.checks import (
    entries_accounted_for,
    gl_silver_checks,
    journals_balance,
    quarantine_count,
)
from mssql_lakehouse.defs.finance.common import FINANCE_MONTHLY, apply_grants, grant_statements, period_bounds
from mssql_lakehouse.lib.io.compilation import local_checkpoint
from mssql_lakehouse.lib.transforms.ledger import (
    accounts_from_bronze,
    entries_from_bronze,
    quarantine_records,
    validate_entries,
)

SILVER_ENTRIES = dg.AssetKey(["silver", "gl_entries"])
QUARANTINE = dg.AssetKey(["silver", "gl_quarantine"])


@dg.multi_asset(
    outs={
        "gl_entries": dg.AssetOut(
            key=SILVER_ENTRIES,
            is_required=False,
            metadata={"partition_expr": "posting_date"},
            kinds={"pyspark", "delta"},
            description=(
                "The period's ledger entries: snake_case, typed (money as decimal(19,4)), every journal balanced."
            ),
        ),
        "gl_quarantine": dg.AssetOut(
            key=QUARANTINE,
            is_required=False,
            metadata={"partition_expr": "period_start"},
            kinds={"pyspark", "delta"},
            description="Ledger entries rejected for the period (outside the period, unknown account, invalid"
            " amount, unbalanced journal), with the reason and the row as JSON; replaced per period.",
        ),
    },
    ins={"bronze_entries": dg.AssetIn(GL_ENTRIES), "bronze_accounts": dg.AssetIn(GL_ACCOUNTS)},
    check_specs=gl_silver_checks(SILVER_ENTRIES, QUARANTINE),
    partitions_def=FINANCE_MONTHLY["partitions_def"],
    backfill_policy=FINANCE_MONTHLY["backfill_policy"],
    group_name=FINANCE_MONTHLY["group_name"],
    required_resource_keys=FINANCE_MONTHLY["required_resource_keys"],
    # Both tables are functions of the period's bronze alone: either can be materialized without
    # the other, and a later run of the other computes the same rows.
    can_subset=True,
)
def gl_silver(context: dg.AssetExecutionContext, bronze_entries: DataFrame, bronze_accounts: DataFrame):
    """Validate the period's ledger entries; write the valid ones and quarantine the rest."""
    _, start, end = period_bounds(context)
    entries = entries_from_bronze(bronze_entries)
    accounts = accounts_from_bronze(bronze_accounts)
    valid, rejected = validate_entries(entries, accounts, start, end)
    valid = local_checkpoint(valid)
    quarantine = local_checkpoint(quarantine_records(rejected, start, record_columns=entries.columns))

    for name, key, frame in (("gl_entries", SILVER_ENTRIES, valid), ("gl_quarantine", QUARANTINE, quarantine)):
        if name in context.selected_output_names:
            statements, grant_metadata = grant_statements(context, key)
            yield dg.Output(frame, output_name=name, metadata=grant_metadata)
            apply_grants(context, statements)

    checks = context.selected_asset_check_keys
    if dg.AssetCheckKey(SILVER_ENTRIES, "journals_balance") in checks:
        yield journals_balance(SILVER_ENTRIES, entries, valid, quarantine)
    if dg.AssetCheckKey(SILVER_ENTRIES, "entries_accounted_for") in checks:
        yield entries_accounted_for(SILVER_ENTRIES, entries, valid, quarantine)
    if dg.AssetCheckKey(QUARANTINE, "quarantine_count") in checks:
        yield quarantine_count(QUARANTINE, quarantine)
