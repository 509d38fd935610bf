"""Jobs: named selections of the asset graph that schedules and sensors run."""

import dagster as dg

sales_nightly = dg.define_asset_job(
    "sales_nightly",
    selection=dg.AssetSelection.groups("sales"),
    description="The whole sales slice for one ERP business day: bronze -> silver -> gold -> SKU alerts.",
)

sales_gold_refresh = dg.define_asset_job(
    "sales_gold_refresh",
    selection=dg.AssetSelection.key_prefixes(["gold"]) & dg.AssetSelection.groups("sales"),
    description="Recompute the sales gold tables of a day whose silver rows changed later (late data).",
)
