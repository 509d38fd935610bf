"""Incremental replication of local Delta tables: equal replicas, only new files copied, divergence refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from mssql_lakehouse.defs.dr import assets as dr
from mssql_lakehouse.lib.io.delta_tables import DeltaLocation, session_conf
from mssql_lakehouse.lib.replication import DrReplication, ReplicaDivergedError, replicate_table
from mssql_lakehouse.lib.replication.compare import compare_replica
from mssql_lakehouse.lib.replication.delta_log import LOG_DIR, deletion_vector_path, list_log
from mssql_lakehouse.lib.resources.spark import SparkResource
from mssql_lakehouse_tests.replication.conftest import history, rows, table_files

SCHEMA = "order_id INT, day DATE, sku STRING, qty INT"
PROPERTIES = {
    "delta.enableDeletionVectors": "true",
    "delta.enableChangeDataFeed": "true",
    "delta.checkpointInterval": "3",
}


def orders(spark: SparkSession, ids: range, day: str, qty: int = 1):
    return spark.createDataFrame([(i, dt.date.fromisoformat(day), f"SKU-{i % 3}", qty) for i in ids], SCHEMA)


def create_table(spark: SparkSession, path: Path) -> None:
    builder = (
        DeltaTable.createIfNotExists(spark).location(str(path)).addColumns(orders(spark, range(0), "2026-11-01").schema)
    )
    builder = builder.partitionedBy("day")
    for name, value in PROPERTIES.items():
        builder = builder.property(name, value)
    builder.execute()


def location(path: Path) -> DeltaLocation:
    return DeltaLocation.for_table(path.parent.name, path.name, tables_root=str(path.parent.parent), catalog=None)


def test_replica_equals_source_and_the_next_pass_copies_only_new_files(spark, tmp_path):
    source, replica = tmp_path / "primary" / "silver" / "orders", tmp_path / "dr" / "silver" / "orders"
    create_table(spark, source)  # v0
    orders(spark, range(20), "2026-11-01").write.format("delta").mode("append").save(str(source))  # v1
    orders(spark, range(20, 30), "2026-11-02").write.format("delta").mode("append").save(str(source))  # v2

    first = replicate_table(source, replica, name="silver/orders")

    assert first.status == "copied" and first.versions_copied == [0, 1, 2]
    assert set(first.copied_data_files) == table_files(source)
    assert rows(spark, replica) == rows(spark, source)
    assert history(spark, replica) == history(spark, source)
    files_after_first = table_files(source)

    # A merge (updates and inserts, with change data), a delete (a deletion vector) and an append
    # that crosses the checkpoint interval. With adaptive execution off (local Spark's setting),
    # Delta leaves a deletion vector file that no commit references: an orphan of the primary, the
    # subject of test_orphans, so this table is written with Spark's default instead.
    updates = orders(spark, range(15, 25), "2026-11-02", qty=5)
    with session_conf(spark, "spark.sql.adaptive.enabled", "true"):
        (
            DeltaTable.forPath(spark, str(source))
            .alias("t")
            .merge(updates.alias("s"), "t.order_id = s.order_id")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )  # v3: checkpoint
        DeltaTable.forPath(spark, str(source)).delete("order_id IN (1, 2, 3)")  # v4
    orders(spark, range(30, 35), "2026-11-03").write.format("delta").mode("append").save(str(source))  # v5
    new_files = table_files(source) - files_after_first

    second = replicate_table(source, replica, name="silver/orders")

    assert second.versions_copied == [3, 4, 5]
    assert set(second.copied_data_files) == new_files, "only the files of the new commits are copied"
    assert any("deletion_vector_" in f for f in new_files) and any(f.startswith("_change_data/") for f in new_files)
    assert second.data_bytes_copied == sum((source / f).stat().st_size for f in new_files)
    assert rows(spark, replica) == rows(spark, source)
    assert rows(spark, replica, version=2) == rows(spark, source, version=2)
    assert list_log(replica).checkpoints.keys() == list_log(source).checkpoints.keys()
    assert (replica / LOG_DIR / "_last_checkpoint").read_bytes() == (source / LOG_DIR / "_last_checkpoint").read_bytes()
    changes = spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 3)
    assert sorted(map(tuple, changes.load(str(replica)).collect())) == sorted(
        map(tuple, changes.load(str(source)).collect())
    )

    third = replicate_table(source, replica, name="silver/orders")
    assert third.status == "in_sync" and third.data_files_copied == third.log_files_copied == 0

    state = compare_replica(spark, "silver/orders", location(source), location(replica), list_log(replica).version)
    assert state.content_equal and state.versions_behind == 0 and state.source_rows == len(rows(spark, source))

    orders(spark, range(40, 42), "2026-11-03").write.format("delta").mode("append").save(str(source))  # v6
    lagging = compare_replica(spark, "silver/orders", location(source), location(replica), list_log(replica).version)
    assert lagging.content_equal, "the replica still equals the source at the version it replicated"
    assert lagging.versions_behind == 1 and lagging.seconds_behind > 0

    # The source's VACUUM is mirrored: the replica drops the files the source dropped.
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        DeltaTable.forPath(spark, str(source)).vacuum(0)
    finally:
        spark.conf.unset("spark.databricks.delta.retentionDurationCheck.enabled")
    vacuumed = replicate_table(source, replica, name="silver/orders")
    assert vacuumed.files_pruned > 0 and table_files(replica) == table_files(source)
    assert rows(spark, replica) == rows(spark, source)

    # A replica damaged behind replication's back is reported by the check, not silently passed.
    (replica / sorted(f for f in table_files(replica) if f.endswith(".parquet"))[0]).unlink()
    damaged = compare_replica(spark, "silver/orders", location(source), location(replica), list_log(replica).version)
    assert not damaged.matches and damaged.note.startswith("the replica is not readable")


def test_a_diverged_replica_is_refused_unless_forced_and_then_kept_aside(spark, tmp_path):
    source, replica = tmp_path / "primary" / "gold" / "t", tmp_path / "dr" / "gold" / "t"
    orders(spark, range(5), "2026-11-01").write.format("delta").save(str(source))
    replicate_table(source, replica)
    orders(spark, range(100, 101), "2026-11-09").write.format("delta").mode("append").save(
        str(replica)
    )  # written at the DR site
    orders(spark, range(5, 8), "2026-11-01").write.format("delta").mode("append").save(str(source))

    with pytest.raises(ReplicaDivergedError, match="version 1 differs"):
        replicate_table(source, replica)
    assert len(rows(spark, replica)) == 6, "nothing was copied over the diverged replica"

    forced = replicate_table(source, replica, force=True)

    assert rows(spark, replica) == rows(spark, source)
    aside = Path(forced.diverged_moved_to)
    assert aside.parent.parent.parent.name == "_diverged" and (100, dt.date(2026, 11, 9), "SKU-1", 1) in rows(
        spark, aside
    )

    orders(spark, range(9, 10), "2026-11-01").write.format("delta").mode("append").save(str(replica))
    orders(spark, range(9, 10), "2026-11-01").write.format("delta").mode("append").save(str(source))
    with pytest.raises(ReplicaDivergedError):
        replicate_table(source, replica)  # same data, but a different commit: still refused


def test_the_source_log_cleanup_is_mirrored_and_a_new_replica_starts_from_the_checkpoint(spark, tmp_path):
    source, replica = tmp_path / "primary" / "bronze" / "t", tmp_path / "dr" / "bronze" / "t"
    create_table(spark, source)
    for day in ("2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"):  # v1..v4, checkpoint at v3
        orders(spark, range(3), day).write.format("delta").mode("append").save(str(source))
    replicate_table(source, replica)
    log = list_log(source)
    cleaned = [log.commits[v] for v in (0, 1, 2)] + [log.checksums[v] for v in (0, 1, 2) if v in log.checksums]
    for path in cleaned:  # what Delta's log cleanup removes once the checkpoint exists
        path.unlink()

    mirrored = replicate_table(source, replica)
    assert mirrored.files_pruned == len(cleaned) and sorted(list_log(replica).commits) == [3, 4]
    assert rows(spark, replica) == rows(spark, source)

    fresh = replicate_table(source, tmp_path / "dr2" / "bronze" / "t")

    assert fresh.started_from_checkpoint == 3 and fresh.versions_copied == [3, 4]
    assert rows(spark, tmp_path / "dr2" / "bronze" / "t") == rows(spark, source)
    assert fresh.data_files_copied == len(table_files(source))


def test_a_table_not_created_yet_is_skipped(tmp_path):
    result = replicate_table(tmp_path / "primary" / "silver" / "inventory", tmp_path / "dr" / "silver" / "inventory")
    assert result.status == "source_missing" and not (tmp_path / "dr").exists()


def test_deletion_vector_file_names_decode_from_z85():
    # The protocol's example: a UUID-relative DV with the prefix "ab".
    assert (
        deletion_vector_path("ab^-aqEH.-t@S}K{vb[*k^") == "ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin"
    )


def test_the_asset_refuses_a_diverged_table_and_replicates_it_when_forced(spark, tmp_path):
    primary, standby = tmp_path / "primary", tmp_path / "dr"
    source, replica = primary / "silver" / "inventory", standby / "silver" / "inventory"
    orders(spark, range(3), "2026-11-01").write.format("delta").save(str(source))
    replicate_table(source, replica)
    orders(spark, range(3, 4), "2026-11-01").write.format("delta").mode("append").save(str(replica))
    resources = {
        "spark": SparkResource(),
        "step_launcher": dg.ResourceDefinition.none_resource(),
        "dr_replication": DrReplication(
            tables=["silver/inventory", "gold/inventory_position"], source_root=str(primary), target_root=str(standby)
        ),
    }

    refused = dg.materialize([dr.replication], resources=resources, raise_on_error=False)
    assert not refused.success
    failure = next(e for e in refused.all_events if e.is_step_failure).step_failure_data.user_failure_data
    assert "silver/inventory" in failure.description and "force" in failure.description

    config = {"ops": {"dr__replication": {"config": {"force": True}}}}
    forced = dg.materialize([dr.replication], resources=resources, run_config=config)
    metadata = forced.asset_materializations_for_node("dr__replication")[0].metadata
    assert metadata["tables_replicated"].value == 1 and metadata["versions_copied"].value == 1
    tables = {t["table"]: t for t in metadata["tables"].value}
    assert tables["gold/inventory_position"]["status"] == "source_missing"
    assert tables["silver/inventory"]["diverged_moved_to"].startswith(str(standby / "_diverged"))
    assert rows(spark, replica) == rows(spark, source)
