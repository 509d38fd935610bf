"""Silver Customer 360: the SCD2 history of every customer and the SCD1 table of the live ones.

``silver/customers_history`` (SCD2) and ``silver/customers`` (SCD1) are rewritten for
the customers the day's changes touched, from *all* their changes in bronze (change events
and snapshot reads), so days can be materialized in any order and replayed any number of
times with the same result as applying every change once in commit order. The history write
replaces each touched customer's versions (a recompute can drop one: a snapshot read made
redundant by an earlier day that landed later), and ``silver/customers`` is derived from the
history table as written, for the touched customers and for any whose SCD1 row disagrees
with it: the two tables are separate commits, and the next run repairs what a run that died
between them left stale. They are one multi-asset because of that order: SCD1 is read from
the history this run has just committed.
"""

import dagster as dg
from pyspark.sql import functions as F

from mssql_lakehouse.defs.customer_360.checks import one_current_version_per_live_key, validity_intervals
from mssql_lakehouse.defs.customer_360.common import CHANGES, CUSTOMERS, GROUP, HISTORY, SNAPSHOT, in_window
from mssql_lakehouse.lib.asset_defaults import SPARK_RESOURCES
from mssql_lakehouse.lib.io.compilation import local_checkpoint
from mssql_lakehouse.lib.partitions import daily_partitions, partition_window
from mssql_lakehouse.lib.pools import CUSTOMER_360_HISTORY
from mssql_lakehouse.lib.step_cache import StepCache
from mssql_lakehouse.lib.transforms.customer_changes import SILVER_KEY, business_columns, silver_events
from mssql_lakehouse.lib.transforms.scd import (
    DELETE_FLAG,
    HISTORY_COLUMNS,
    history_of,
    scd1_from_history,
    stale_scd1_keys,
    touched_keys,
)


@dg.multi_asset(
    outs={
        "customers_history": dg.AssetOut(
            key=HISTORY,
            metadata={
                "partition_expr": "valid_from",
                "write_mode": "merge",
                "merge_keys": [SILVER_KEY, "valid_from_lsn"],
                "merge_scope": "table",
                # Each written customer's recomputed history is complete: versions it no longer has go,
                # all of them for a customer written as a delete marker (no version left).
                "merge_replace_by": [SILVER_KEY],
                "merge_delete_flag": DELETE_FLAG,
            },
            kinds={"pyspark", "delta"},
            description="SCD2: one row per version of a customer, valid_from/valid_to (commit times), "
            "is_current; a delete closes the current version.",
        ),
        "customers": dg.AssetOut(
            key=CUSTOMERS,
            metadata={
                "partition_expr": "valid_from",
                "write_mode": "merge",
                "merge_keys": [SILVER_KEY],
                "merge_delete_flag": DELETE_FLAG,
                "merge_scope": "table",
            },
            kinds={"pyspark", "delta"},
            description="SCD1: one row per live customer with the latest values (the history's current rows), "
            "derived from the history table; a run also repairs customers a failed run left stale.",
        ),
    },
    # Each run recomputes touched customers from every event in bronze, of every day, read whole
    # through the tables resource; a day depends on that day only. A mapping from every day would
    # make each day downstream of all of them, and a backfill of two days target the whole history.
    deps=[CHANGES, SNAPSHOT],
    check_specs=[
        dg.AssetCheckSpec("one_current_version_per_live_key", asset=HISTORY),
        dg.AssetCheckSpec("validity_intervals", asset=HISTORY),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=GROUP,
    pool=CUSTOMER_360_HISTORY,
    required_resource_keys=SPARK_RESOURCES | {"tables"},
)
def customers_history_and_customers(context: dg.AssetExecutionContext):
    """Recompute the whole history of every customer the window's changes touched, from all of bronze;
    then bring SCD1 to the history's current rows for those customers and any left stale."""
    window = partition_window(context)
    spark = context.resources.spark.get_session()
    tables = context.resources.tables
    changes = tables.location(CHANGES).read(spark)
    snapshots = tables.location(SNAPSHOT)
    if snapshots.exists(spark):
        changes = changes.unionByName(snapshots.read(spark), allowMissingColumns=True)
    events = silver_events(changes)
    keys = local_checkpoint(touched_keys(events.where(in_window(F.col("commit_time"), window)), SILVER_KEY))
    history = local_checkpoint(history_of(events, keys, SILVER_KEY, business_columns(changes)))
    yield dg.Output(history, output_name="customers_history", metadata={"keys_rewritten": keys.count()})

    # SCD1 comes from the history table as written, not from this run's frame: a run that died
    # after the history commit left SCD1 stale for its keys, and they are repaired here.
    written_history = tables.location(HISTORY).read(spark)
    customers = tables.location(CUSTOMERS)
    stale = stale_scd1_keys(customers.read(spark) if customers.exists(spark) else None, written_history, SILVER_KEY)
    repaired = local_checkpoint(stale.join(keys, SILVER_KEY, "left_anti"))
    rewrite = local_checkpoint(keys.unionByName(repaired))
    columns = [c for c in written_history.columns if c not in HISTORY_COLUMNS]
    repaired_count = repaired.count()
    if repaired_count:
        context.log.warning(f"silver/customers disagreed with the history for {repaired_count} customers; repaired")
    yield dg.Output(
        scd1_from_history(written_history, rewrite, SILVER_KEY, columns),
        output_name="customers",
        metadata={"keys_rewritten": rewrite.count(), "stale_keys_repaired": repaired_count},
    )

    # The written tables, for the keys this run rewrote (every key's rows are only written like this).
    with StepCache() as cache:
        written_history = cache(written_history.join(F.broadcast(rewrite), SILVER_KEY, "left_semi"))
        written_customers = cache(
            tables.location(CUSTOMERS).read(spark).join(F.broadcast(rewrite), SILVER_KEY, "left_semi")
        )
        yield one_current_version_per_live_key(HISTORY, written_history, written_customers)
        yield validity_intervals(HISTORY, written_history)
