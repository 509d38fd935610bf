"""Checks on the DR replica: per table, the same rows as the source had, and how far behind it is."""

import dagster as dg

from mssql_lakehouse.defs.dr.assets import DR_REPLICATION
from mssql_lakehouse.lib.replication import DrReplication
from mssql_lakehouse.lib.replication.compare import ReplicaState, compare_replica


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "replica_matches_source",
            asset=DR_REPLICATION,
            description="Per table: the replica's row count and content hash equal the source's at the version "
            "replicated (time travel), so lag does not read as a mismatch.",
        ),
        dg.AssetCheckSpec(
            "replication_lag",
            asset=DR_REPLICATION,
            description="Per table: source versions the replica lacks and the age of the oldest of them; "
            "warns beyond LAKEHOUSE_DR_MAX_LAG_MINUTES.",
        ),
    ],
    required_resource_keys={"spark", "dr_replication"},
)
def dr_replica_consistency(context: dg.AssetCheckExecutionContext):
    """Compares every replicated table with its source and reports replication lag."""
    dr: DrReplication = context.resources.dr_replication
    spark = context.resources.spark.get_session()
    states: list[ReplicaState] = []
    for table in dr.tables:
        source, replica = dr.locations(table)
        states.append(compare_replica(spark, table, source, replica, dr.replicated_version(spark, table)))
    mismatched = [s.table for s in states if not s.matches]
    yield dg.AssetCheckResult(
        asset_key=DR_REPLICATION,
        check_name="replica_matches_source",
        passed=not mismatched,
        metadata={
            "tables_compared": len(states),
            "mismatched": dg.MetadataValue.json(mismatched),
            "tables": dg.MetadataValue.json([s.as_metadata() for s in states]),
        },
    )
    worst = max(states, key=lambda s: s.seconds_behind, default=None)
    yield dg.AssetCheckResult(
        asset_key=DR_REPLICATION,
        check_name="replication_lag",
        passed=all(s.seconds_behind <= dr.max_lag_minutes * 60 for s in states),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "max_versions_behind": max((s.versions_behind for s in states), default=0),
            "max_minutes_behind": round(worst.seconds_behind / 60, 1) if worst else 0.0,
            "most_behind": worst.table if worst else "",
            "max_lag_minutes": dr.max_lag_minutes,
            "versions_behind": dg.MetadataValue.json({s.table: s.versions_behind for s in states}),
        },
    )
