"""Microsoft SQL Server to Delta Lake (bronze, silver, gold) as a Dagster asset graph."""

import warnings

import dagster as dg

# Dagster is pinned and its beta and superseded APIs (backfill policies, the schema-change and
# freshness check builders) are used on purpose: their notices about our own calls are noise in every
# entry point that imports this package (`dagster dev`, its code server, `mssql-lakehouse`, runs).
for _category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
    warnings.filterwarnings("ignore", category=_category, module=r"mssql_lakehouse")
# Dagster attributes this one to its own decorator, not to the asset that passes the parameter.
warnings.filterwarnings(
    "ignore", message=r"Parameter `backfill_policy` .* is currently in beta", category=dg.BetaWarning
)
