"""Jobs: named selections of the asset graph that schedules and sensors run."""

import dagster as dg

from mssql_lakehouse.defs.sales.gold import ALERTS, ALIGNMENT, DAILY_SKU_SALES
from mssql_lakehouse.lib.check_rules import freshness_checks_on

GOLD_FRESHNESS = freshness_checks_on([DAILY_SKU_SALES, ALIGNMENT, ALERTS])

sales_nightly = dg.define_asset_job(
    "sales_nightly",
    selection=dg.AssetSelection.groups("sales") - GOLD_FRESHNESS,
    description="The whole sales slice for one ERP business day: bronze -> silver -> gold -> SKU alerts.",
)

sales_gold_refresh = dg.define_asset_job(
    "sales_gold_refresh",
    selection=(dg.AssetSelection.key_prefixes(["gold"]) & dg.AssetSelection.groups("sales")) - GOLD_FRESHNESS,
    description="Recompute the sales gold tables of a day whose silver rows changed later (late data).",
)
