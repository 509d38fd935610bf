"""File arrival: a run for each (day, region) partition whose landing folder has a new set of files.

Each tick lists every region's day folders (days the partitions know) and fingerprints each
folder's file set by names, sizes and modification times. A folder whose fingerprint differs
from the one in the cursor gets a run request for its partition; the run key is the partition
and the fingerprint, so the same file set is never run twice, even if the cursor is lost. Nor
is a file set a successful run the sensor did not request has landed already (materialized from
the UI, by ``make demo``): bronze records the file sets it landed. A run that failed is requested
again on a later tick, a few times (see ``requested_runs``).
"""

from __future__ import annotations

import json

import dagster as dg

from mssql_lakehouse.defs.inventory.common import POSITION, SNAPSHOTS
from mssql_lakehouse.defs.inventory.landing import LANDED_FILE_SETS, day_folders, fingerprint, landed_files
from mssql_lakehouse.defs.inventory.settings import InventoryConfig
from mssql_lakehouse.lib.check_rules import freshness_checks_on
from mssql_lakehouse.lib.partitions import daily_partitions
from mssql_lakehouse.lib.requested_runs import Requested, follow_up, log_notes, skip_reason, with_retries

inventory = dg.define_asset_job(
    "inventory",
    selection=dg.AssetSelection.groups("inventory") - freshness_checks_on([POSITION]),
    description="Regional inventory for a day and region: landed files -> bronze -> silver -> gold positions.",
)


def changed_folders(landing: InventoryConfig, known_days: set[str], seen: dict[str, str]) -> dict[str, str]:
    """Partition key -> fingerprint, for every non-empty day folder whose file set is not the one seen."""
    changed = {}
    for region in landing.regions:
        for day in day_folders(landing.landing_root(region)):
            if day not in known_days:
                continue
            files = landed_files(landing.landing_dir(region, day))
            key = dg.MultiPartitionKey({"date": day, "region": region})
            if files and seen.get(key) != fingerprint(files):
                changed[key] = fingerprint(files)
    return changed


def landed_by_a_run(instance: dg.DagsterInstance, changed: dict[str, str]) -> dict[str, str]:
    """The ``changed`` folders whose file set a successful run has already landed in bronze.

    A run the sensor did not request (materialized from the UI, by ``make demo``, by a backfill)
    leaves no trace in its cursor; its bronze materialization records the file sets it landed.
    """
    landed = {}
    for key, files_hash in changed.items():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=SNAPSHOTS, asset_partitions=[str(key)]), limit=1, ascending=False
        ).records
        if not records:
            continue
        file_sets = records[0].asset_materialization.metadata.get(LANDED_FILE_SETS)
        if file_sets is None or file_sets.value.get(str(key)) != files_hash:
            continue
        run = instance.get_run_by_id(records[0].run_id)
        if run is not None and run.status == dg.DagsterRunStatus.SUCCESS:
            landed[key] = files_hash
    return landed


def _parse(cursor: str | None) -> tuple[dict[str, str], list[Requested]]:
    """(partition -> fingerprint seen, runs requested and followed)."""
    raw = json.loads(cursor) if cursor else {}
    if "seen" not in raw:  # the cursor of earlier versions: the fingerprints alone
        return raw, []
    return raw["seen"], [Requested.parse(r) for r in raw["requested"]]


@dg.sensor(
    name="inventory_file_arrival",
    job=inventory,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests an inventory run for each (day, region) whose landing folder gained or changed files, "
    "and again (a few times) for one whose run failed.",
)
def inventory_file_arrival(context: dg.SensorEvaluationContext, inventory_settings: InventoryConfig):
    seen, requested = _parse(context.cursor)
    known = set(daily_partitions.get_partition_keys(dynamic_partitions_store=context.instance))
    changed = changed_folders(inventory_settings, known, seen)
    landed = landed_by_a_run(context.instance, changed)
    changed = {key: files_hash for key, files_hash in changed.items() if key not in landed}
    new = [
        Requested(
            run_key=f"inventory-{key}-{files_hash}",
            attempt=1,
            partition_key=str(key),
            tags={"lakehouse/trigger": "file_arrival", "lakehouse/landed_files": files_hash},
        )
        for key, files_hash in sorted(changed.items())
    ]
    followed = follow_up(context.instance, requested)
    log_notes(context, followed)
    to_request, to_follow = with_retries(followed, new)
    context.update_cursor(
        json.dumps({"seen": {**seen, **landed, **changed}, "requested": [r.dump() for r in to_follow]}, sort_keys=True)
    )
    if not to_request:
        yield skip_reason("No landing folder has new or changed files", followed)
        return
    for request in to_request:
        yield request.run_request()
