"""Orphans: files of a failed write in the primary, and what a killed pass leaves in the replica.

Neither reaches the replica's content nor fails its check; a killed pass is completed by the
next one, which leaves the replica holding only what its log references.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
from deltalake import DeltaTable as DeltaLakeTable

from mssql_lakehouse.defs.dr import assets as dr
from mssql_lakehouse.defs.dr.checks import dr_replica_consistency
from mssql_lakehouse.lib.replication import DrReplication
from mssql_lakehouse.lib.replication.delta_log import LAST_CHECKPOINT, LOG_DIR, list_log
from mssql_lakehouse.lib.resources.spark import SparkResource
from mssql_lakehouse_tests.replication.conftest import referenced_files, table_files
from mssql_lakehouse_tests.replication.orphans import fail_a_replace_where, orders

TABLE = "bronze/sales_order_header"
ROOT = Path(__file__).resolve().parents[2]

# A replication pass that stops itself (SIGSTOP) the moment it renames its first log file into
# place: every data file of the new versions is copied, the log is not. The test then kills it.
STOPPED_PASS = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from mssql_lakehouse.lib.replication.local import replicate_table

    def stop_at_the_log(event, args):
        if event == "os.rename" and "_delta_log" in Path(os.fsdecode(args[1])).parts:
            os.kill(os.getpid(), signal.SIGSTOP)

    sys.addaudithook(stop_at_the_log)
    replicate_table(Path(sys.argv[1]), Path(sys.argv[2]))
    """
)


def read(path: Path, version: int | None = None) -> list[dict]:
    """What a reader sees, through the ``deltalake`` package (not Spark, which wrote it)."""
    table = DeltaLakeTable(str(path), version=version)
    return sorted(table.to_pyarrow_table().to_pylist(), key=lambda r: r["order_id"])


def unreferenced(table: Path) -> set[str]:
    """Files of the table, hidden ones included, that neither its log nor a commit's actions name."""
    log = list_log(table)
    log_files = {*log.commits.values(), *log.checksums.values(), *log.compactions.values()}
    log_files |= {p for parts in log.checkpoints.values() for p in parts} | {table / LOG_DIR / LAST_CHECKPOINT}
    everything = {p for p in table.rglob("*") if p.is_file()}
    return {str(p.relative_to(table)) for p in everything - log_files} - referenced_files(table)


def replicate_and_check(resources: dict) -> tuple[dict, dg.AssetCheckEvaluation]:
    result = dg.materialize([dr.replication, dr_replica_consistency], resources=resources, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    table = result.asset_materializations_for_node("dr__replication")[0].metadata["tables"].value[0]
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "replica_matches_source")
    return table, check


def kill_a_pass_before_its_log(source: Path, replica: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", STOPPED_PASS, str(source), str(replica)], cwd=ROOT)
    _, status = os.waitpid(child.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), "the pass reached its log copy"
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL


def test_orphans_of_the_primary_and_of_a_killed_pass_neither_reach_nor_fail_the_replica(spark, tmp_path):
    primary, standby = tmp_path / "primary", tmp_path / "dr"
    source, replica = primary / TABLE, standby / TABLE
    orders(spark, range(20), "2026-11-01").write.format("delta").partitionBy("day").save(str(source))  # v0
    orphans = fail_a_replace_where(spark, source, "2026-11-02")
    resources = {
        "spark": SparkResource(),
        "step_launcher": dg.ResourceDefinition.none_resource(),
        "dr_replication": DrReplication(tables=[TABLE], source_root=str(primary), target_root=str(standby)),
    }

    first, check = replicate_and_check(resources)

    assert check.passed, check.metadata
    assert not orphans & table_files(replica), "an orphan of the primary is not copied"
    assert first["data_files_copied"] == len(referenced_files(source))
    assert read(replica) == read(source)

    orders(spark, range(20, 30), "2026-11-02").write.format("delta").mode("append").save(str(source))  # v1
    fail_a_replace_where(spark, source, "2026-11-03")
    kill_a_pass_before_its_log(source, replica)
    assert list_log(replica).version == 0 and read(replica) == read(source, version=0), "the replica still reads v0"
    assert unreferenced(replica), "the killed pass left files the replica's log does not reference"

    second, check = replicate_and_check(resources)

    assert second["versions_copied"] == "1..1" and check.passed, check.metadata
    assert read(replica) == read(source) and len(read(replica)) == 30
    assert table_files(replica) == referenced_files(source)
    assert not unreferenced(replica), "after the next pass the replica holds only what its log references"
