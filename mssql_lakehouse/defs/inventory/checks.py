"""Every check of the inventory slice, declared here in one form: ``dg.AssetCheckSpec``.

- In-step checks need what only the asset's step holds (the files it read, the positions it just
  computed): bronze and gold take their specs from the builders below (``check_specs=``) and
  yield the results right after their writes.
- Standalone checks look at what the merges left behind over the whole tables (silver is merged
  table-wide): each is a ``@dg.multi_asset_check`` over its specs.
- Ready-made checks: column-schema changes on silver and gold (``check_rules``), and the gold
  position's freshness, with the sensor that evaluates it.
"""

import datetime as dt
from collections.abc import Sequence

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.defs.inventory.common import INVENTORY, POSITION
from mssql_lakehouse.lib.check_rules import freshness_checks_sensor, layer_keys, not_null, unique_key
from mssql_lakehouse.lib.io.tables_resource import LakehouseTables
from mssql_lakehouse.lib.transforms.inventory import INVENTORY_KEYS

RESOURCES = {"spark", "tables"}

# Exports land through the day and each (day, region) runs when its files arrive; by 06:00 on the
# business day's clock, a position written in the day before shows the feed is alive.
DEADLINE_CRON = "0 6 * * *"
LOWER_BOUND = dt.timedelta(days=1)


# -- in-step checks (specs of the asset that evaluates them) ------------------------------------


def inventory_snapshots_checks(snapshots: dg.AssetKey, rejected_files: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec("no_rejected_files", asset=snapshots, description="Every landed file was read whole."),
        dg.AssetCheckSpec(
            "schema_matches_contract",
            asset=snapshots,
            description="The files have no column the export contract does not know (warning: new columns are added).",
        ),
        dg.AssetCheckSpec("rejections_have_reasons", asset=rejected_files),
    ]


def inventory_position_checks(position: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "on_hand_matches_snapshot",
            asset=position,
            description="Per day and region, on hand equals the snapshot's total.",
        ),
        dg.AssetCheckSpec("unique_sku_per_region", asset=position),
    ]


# -- standalone checks ---------------------------------------------------------------------------


def _read(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> DataFrame:
    tables: LakehouseTables = context.resources.tables
    return tables.location(key).read(context.resources.spark.get_session())


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec("unique_key", asset=INVENTORY),
        dg.AssetCheckSpec("not_null_keys", asset=INVENTORY),
        dg.AssetCheckSpec("non_negative_quantity", asset=INVENTORY),
    ],
    required_resource_keys=RESOURCES,
)
def inventory_integrity(context: dg.AssetCheckExecutionContext):
    """One row per (region, product, location), keys present, no negative on-hand."""
    rows = _read(context, INVENTORY)
    yield unique_key(INVENTORY, rows, INVENTORY_KEYS)
    yield not_null(INVENTORY, rows, INVENTORY_KEYS)
    negative = rows.where(F.col("quantity") < 0)
    yield dg.AssetCheckResult(
        asset_key=INVENTORY,
        check_name="non_negative_quantity",
        passed=negative.isEmpty(),
        metadata={
            "negative_rows": negative.count(),
            "sample": dg.MetadataValue.json([r.asDict() for r in negative.limit(5).collect()]),
        },
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "latest_position_matches_silver",
            asset=POSITION,
            additional_deps=[INVENTORY],
            description="Each region's latest position equals silver's current on-hand, per product.",
        )
    ],
    required_resource_keys=RESOURCES,
)
def latest_position_matches_silver(context: dg.AssetCheckExecutionContext):
    silver = (
        _read(context, INVENTORY)
        .where("NOT is_removed")
        .groupBy("region", "product_id")
        .agg(F.sum("quantity").cast("bigint").alias("on_hand"))
    )
    positions = _read(context, POSITION)
    latest = positions.groupBy("region").agg(F.max("position_date").alias("position_date"))
    gold = positions.join(latest, ["region", "position_date"]).select("region", "product_id", "on_hand")
    differences = silver.exceptAll(gold).union(gold.exceptAll(silver))
    count = differences.count()
    yield dg.AssetCheckResult(
        asset_key=POSITION,
        check_name="latest_position_matches_silver",
        passed=count == 0,
        metadata={
            "differing_products": count,
            "latest_position_dates": dg.MetadataValue.json(
                {r["region"]: str(r["position_date"]) for r in latest.collect()}
            ),
        },
    )


# -- ready-made checks ---------------------------------------------------------------------------


def freshness_checks(assets: Sequence[dg.AssetsDefinition], timezone: str) -> Sequence[dg.AssetChecksDefinition]:
    """Each gold table was written in the day before the deadline. The position is partitioned by
    day and region, which the time-partition freshness check does not take, so this asks for a
    recent write of any region rather than for a given day."""
    return dg.build_last_update_freshness_checks(
        assets=layer_keys(assets, "gold"), lower_bound_delta=LOWER_BOUND, deadline_cron=DEADLINE_CRON, timezone=timezone
    )


def inventory_freshness_checks_sensor(checks: Sequence[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    """Evaluates the gold position's freshness; running by default like the file-arrival sensor that
    keeps it fresh, so exports that stop arriving are reported without anyone switching it on."""
    return freshness_checks_sensor(checks, "inventory_freshness_checks_sensor", dg.DefaultSensorStatus.RUNNING)
