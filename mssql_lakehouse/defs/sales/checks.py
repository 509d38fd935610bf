"""Every check of the sales slice, declared here in one form: ``dg.AssetCheckSpec``.

- In-step checks need what only the asset's step holds (the extraction's source figures, the
  frame just written): the asset takes its specs from a builder below (``check_specs=``) and
  yields the results right after its write.
- Standalone checks read the whole merged silver tables (a key is unique table-wide): each is a
  ``@dg.multi_asset_check`` over its specs, so one read of a table serves all its rules.
- Ready-made checks: column-schema changes on silver and gold (``check_rules``), and the gold
  tables' freshness by the morning after the nightly cut-off, with the sensor that evaluates it.

The in-step builders take the asset's key from the asset module, which imports this one.
"""

from collections.abc import Sequence

import dagster as dg
from pyspark.sql import DataFrame

from mssql_lakehouse.defs.sales.silver import LINES, ORDERS, QUARANTINE
from mssql_lakehouse.lib.check_rules import freshness_checks_sensor, layer_keys, not_null, unique_key

ORDER_KEYS = ["sales_order_id"]
LINE_KEYS = ["sales_order_id", "sales_order_detail_id"]

# The nightly run starts at the ERP's cut-off (02:00 by default) and takes minutes; 06:00 on the
# business day's clock leaves room for its retries before planners read the day's alerts.
NIGHTLY_DEADLINE_CRON = "0 6 * * *"


# -- in-step checks (specs of the asset that evaluates them) ------------------------------------


def extraction_checks(asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "reconciles_with_source",
            asset=asset,
            description="Row count and amount sums equal the source's for the window.",
        ),
        dg.AssetCheckSpec(
            "row_count_anomaly",
            asset=asset,
            description="The day's rows against the median of the 14 days before, those landed as it was: "
            "before any later day (warning).",
        ),
    ]


def daily_sku_sales_checks(asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec("totals_match_silver", asset=asset)]


def sku_forecast_alignment_checks(asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec("covers_every_forecast_sku", asset=asset)]


def sku_alerts_checks(asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec("alerts_have_numbers", asset=asset),
        dg.AssetCheckSpec("severity_in_configured_set", asset=asset),
    ]


# -- standalone checks ---------------------------------------------------------------------------


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec("unique_key", asset=ORDERS), dg.AssetCheckSpec("not_null_keys", asset=ORDERS)],
    ins={"orders": dg.AssetIn(ORDERS)},
)
def sales_orders_keys(orders: DataFrame):
    """One row per order, and no order without its key."""
    yield unique_key(ORDERS, orders, ORDER_KEYS)
    yield not_null(ORDERS, orders, ORDER_KEYS)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec("unique_key", asset=LINES),
        dg.AssetCheckSpec("not_null_keys", asset=LINES),
        dg.AssetCheckSpec(
            "every_line_has_header",
            asset=LINES,
            additional_deps=[ORDERS],
            description="Warns while lines wait for an order that has not been extracted yet.",
        ),
    ],
    ins={"lines": dg.AssetIn(LINES), "orders": dg.AssetIn(ORDERS)},
)
def sales_order_lines_integrity(lines: DataFrame, orders: DataFrame):
    """One row per line, keys present, and every line belongs to an order in silver."""
    yield unique_key(LINES, lines, LINE_KEYS)
    yield not_null(LINES, lines, [*LINE_KEYS, "product_id", "sku"])
    orphans = lines.join(orders.select("sales_order_id"), "sales_order_id", "left_anti")
    count = orphans.count()
    yield dg.AssetCheckResult(
        asset_key=LINES,
        check_name="every_line_has_header",
        passed=count == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"lines_without_header": count},
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "quarantine_count",
            asset=QUARANTINE,
            description="Reports how many rows are held in quarantine, by reason (a warning when there are any).",
        )
    ],
    ins={"sales_quarantine": dg.AssetIn(QUARANTINE)},
)
def quarantine_count(sales_quarantine: DataFrame):
    by_reason = {r["reason"]: r["count"] for r in sales_quarantine.groupBy("reason").count().collect()}
    total = sum(by_reason.values())
    yield dg.AssetCheckResult(
        asset_key=QUARANTINE,
        check_name="quarantine_count",
        passed=total == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined_rows": total, **{f"reason: {k}": v for k, v in sorted(by_reason.items())}},
    )


# -- ready-made checks ---------------------------------------------------------------------------


def freshness_checks(
    assets: Sequence[dg.AssetsDefinition], timezone: str, deadline_cron: str = NIGHTLY_DEADLINE_CRON
) -> Sequence[dg.AssetChecksDefinition]:
    """Each gold table holds the business day that ended by ``deadline_cron`` (in the business day's zone)."""
    return dg.build_time_partition_freshness_checks(
        assets=layer_keys(assets, "gold"), deadline_cron=deadline_cron, timezone=timezone
    )


def sales_freshness_checks_sensor(checks: Sequence[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    """Evaluates the gold tables' freshness; stopped by default like the nightly schedule that makes
    them fresh, so a deployment that does not run the schedule is not told its tables are overdue."""
    return freshness_checks_sensor(checks, "sales_freshness_checks_sensor", dg.DefaultSensorStatus.STOPPED)
