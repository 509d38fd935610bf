"""Bronze finance: the ledger rows of the reporting period and the chart of accounts, full fidelity.

``Finance.GLEntry`` is read by its ``PostingDate`` over the period's window (the period a
row is reported in, whatever its modification time), so re-extracting a period after a
restatement in the ERP picks up the changed rows; ``money`` lands as ``decimal(19,4)``.
"""

import dagster as dg
from pyspark.sql import functions as F

from mssql_lakehouse.defs.finance.checks import extraction_checks
from mssql_lakehouse.defs.finance.common import (
    FINANCE_MONTHLY,
    apply_grants,
    grant_statements,
    period_bounds,
    with_period_metadata,
)
from mssql_lakehouse.lib.asset_defaults import ERP_POOL, EXTRACTION_RETRY
from mssql_lakehouse.lib.check_rules import reconciles_with_source
from mssql_lakehouse.lib.partitions import partition_window
from mssql_lakehouse.lib.sources import Extraction, ExtractionMode, MssqlSource, TableSource, frame_figures

GL_ENTRIES_SOURCE = TableSource(
    "Finance",
    "GLEntry",
    mode=ExtractionMode.WATERMARK,
    key_columns=("EntryID",),
    watermark_column="PostingDate",
    split_column="EntryID",
    reconcile_columns=("Debit", "Credit"),
)
GL_ACCOUNTS_SOURCE = TableSource("Finance", "GLAccount", key_columns=("AccountID",))

GL_ENTRIES = dg.AssetKey(["bronze", "gl_entries"])
GL_ACCOUNTS = dg.AssetKey(["bronze", "gl_accounts"])

BRONZE = {
    **FINANCE_MONTHLY,
    "kinds": {"pyspark", "delta", "mssql"},
    "required_resource_keys": FINANCE_MONTHLY["required_resource_keys"] | {"erp"},
    "pool": ERP_POOL,
    "retry_policy": EXTRACTION_RETRY,
}


def _land(context: dg.AssetExecutionContext, key: dg.AssetKey, extraction: Extraction, df):
    source: MssqlSource = context.resources.erp
    _, start, end = period_bounds(context)
    with extraction.compiled_if_large(context.resources.spark.get_session()):
        # Materialise once: the write and the reconciliation see the same rows and the same extraction time.
        landed = with_period_metadata(df, start, end, source.database).localCheckpoint()
        figures = frame_figures(
            landed.drop("period_start") if "period_start" in landed.columns else landed,
            list(extraction.source_figures.sums),
        )
    statements, grant_metadata = grant_statements(context, key)
    yield dg.Output(
        landed,
        metadata={
            **extraction.metadata(),
            "source": dg.MetadataValue.json(source.describe()),
            "output_rows": figures.row_count,
            **grant_metadata,
        },
    )
    apply_grants(context, statements)
    yield reconciles_with_source(
        key,
        {"row_count": extraction.source_row_count, **extraction.source_figures.sums},
        {"row_count": figures.row_count, **figures.sums},
    )


@dg.asset(
    key=GL_ENTRIES, metadata={"partition_expr": "PostingDate"}, check_specs=extraction_checks(GL_ENTRIES), **BRONZE
)
def gl_entries(context: dg.AssetExecutionContext):
    """Finance.GLEntry rows whose PostingDate falls in the reporting period (money as decimal(19,4))."""
    source: MssqlSource = context.resources.erp
    spark = context.resources.spark.get_session()
    extraction = source.extract(spark, GL_ENTRIES_SOURCE, window=partition_window(context))
    yield from _land(context, GL_ENTRIES, extraction, extraction.df)


@dg.asset(
    key=GL_ACCOUNTS, metadata={"partition_expr": "period_start"}, check_specs=extraction_checks(GL_ACCOUNTS), **BRONZE
)
def gl_accounts(context: dg.AssetExecutionContext):
    """Finance.GLAccount (the chart of accounts) as read for the period's close: one snapshot per period."""
    source: MssqlSource = context.resources.erp
    spark = context.resources.spark.get_session()
    _, start, _ = period_bounds(context)
    extraction = source.extract(spark, GL_ACCOUNTS_SOURCE)
    df = extraction.df.withColumn("period_start", F.lit(start).cast("date"))
    yield from _land(context, GL_ACCOUNTS, extraction, df)
