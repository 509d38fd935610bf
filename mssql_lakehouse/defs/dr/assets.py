"""Disaster recovery: the replica of the lakehouse's tables at the standby site.

``dr/replication`` copies what changed in each configured table since the last pass
(``LAKEHOUSE_DR_TABLES``; the inventory tables by default) from where the pipelines
write to the standby site: locally from the active tables root to the other one,
on Databricks by incremental deep clone into ``LAKEHOUSE_DR_CATALOG``. After a
failover (``LAKEHOUSE_ACTIVE_SITE=secondary``) the same asset replicates back.
"""

import dagster as dg
from pydantic import Field

from mssql_lakehouse.lib.asset_defaults import SPARK_RESOURCES
from mssql_lakehouse.lib.pools import DR_REPLICATION as DR_REPLICATION_POOL
from mssql_lakehouse.lib.replication import DrReplication, ReplicaDivergedError, ReplicationGapError, TableReplication

DR_REPLICATION = dg.AssetKey(["dr", "replication"])


class ReplicationConfig(dg.Config):
    force: bool = Field(
        default=False,
        description="Replace replica tables that have commits their source lacks (fail-back over a diverged "
        "primary). The diverged table is kept: moved to <root>/_diverged/ locally, deep-cloned aside on Databricks.",
    )
    tables: list[str] = Field(
        default_factory=list, description="Only these layer/table names (default: all configured)."
    )


@dg.asset(
    key=DR_REPLICATION,
    group_name="dr",
    kinds={"delta"},
    required_resource_keys=SPARK_RESOURCES | {"dr_replication"},
    pool=DR_REPLICATION_POOL,
)
def replication(context: dg.AssetExecutionContext, config: ReplicationConfig) -> dg.MaterializeResult:
    """Replicates the configured Delta tables to the standby site, copying only what changed since the last pass.

    Locally: the Delta log commits newer than the replica's version and the files they add, data first and
    log last, so the replica is readable at every moment. On Databricks: CREATE OR REPLACE ... DEEP CLONE.
    A replica with commits its source lacks is refused unless the run is configured with force.
    """
    dr: DrReplication = context.resources.dr_replication
    unknown = sorted(set(config.tables) - set(dr.tables))
    if unknown:
        raise dg.Failure(f"Not configured for replication (LAKEHOUSE_DR_TABLES): {unknown}")
    spark = context.resources.spark.get_session() if dr.on_catalogs else None
    done: list[TableReplication] = []
    refused: dict[str, str] = {}
    for table in config.tables or dr.tables:
        try:
            result = dr.replicate(spark, table, force=config.force)
        except (ReplicaDivergedError, ReplicationGapError) as error:
            refused[table] = str(error)
            continue
        context.log.info(
            f"{table}: {result.status}, versions {result.target_version_before} -> {result.source_version}, "
            f"{result.data_files_copied} data files ({result.data_bytes_copied} bytes)"
        )
        done.append(result)
    metadata = replication_metadata(dr, done)
    if refused:
        raise dg.Failure(
            description="Not replicated: " + "; ".join(refused.values()),
            metadata={**metadata, "refused": dg.MetadataValue.json(refused)},
        )
    return dg.MaterializeResult(metadata=metadata)


def replication_metadata(dr: DrReplication, done: list[TableReplication]) -> dict:
    rows = [r.as_metadata() for r in done]
    lines = [
        "| table | status | versions | data files | data bytes | log files | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['table']} | {r['status']} | {r['target_version_before']} -> {r['source_version']} | "
        f"{r['data_files_copied']} | {r['data_bytes_copied']} | {r['log_files_copied']} | {r['seconds']} |"
        for r in rows
    ]
    return {
        "source": dr.source_catalog or dr.source_root or "",
        "target": dr.target_catalog or dr.target_root or "",
        "tables_replicated": sum(r.status == "copied" for r in done),
        "versions_copied": sum(len(r.versions_copied) for r in done),
        "data_files_copied": sum(r.data_files_copied for r in done),
        "data_bytes_copied": sum(r.data_bytes_copied for r in done),
        "log_files_copied": sum(r.log_files_copied for r in done),
        "log_bytes_copied": sum(r.log_bytes_copied for r in done),
        "summary": dg.MetadataValue.md("\n".join(lines)),
        "tables": dg.MetadataValue.json(rows),
    }
