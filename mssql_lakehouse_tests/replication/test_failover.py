"""Failover end to end with the inventory slice: replicate, fail over, run the next day on the replica, fail back.

The DR tables are the defaults (the four inventory tables). Two regions' exports of two days
land on the primary and are replicated; with ``LAKEHOUSE_ACTIVE_SITE=secondary`` the same
definitions ingest day 3 on the replica and replay it; replication then runs back.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from mssql_lakehouse.definitions import build_defs
from mssql_lakehouse.lib.replication import dr_resources
from mssql_lakehouse.lib.resources.deployment import resources_for
from mssql_lakehouse.settings import DEFAULT_DR_TABLES, LakehouseSettings, PathsSettings, Site
from mssql_lakehouse_tests.inventory.conftest import FIRST_DAY, REGIONS, key
from mssql_lakehouse_tests.replication.conftest import referenced_files, rows

DAYS = [FIRST_DAY + dt.timedelta(days=i) for i in range(3)]


def definitions() -> dg.Definitions:
    """The inventory slice and the DR pieces, with the resources of the site now active."""
    return build_defs(LakehouseSettings.from_env(), slices=("inventory", "dr"))


def snapshot(lh, site: Site) -> dict[str, list[tuple]]:
    root = PathsSettings(home=lh.home).site_tables_root(site)
    return {t: rows(lh.spark, root / t) for t in DEFAULT_DR_TABLES}


def files(lh, site: Site) -> set[str]:
    """The files the tables' logs reference (a write can leave an unreferenced file; it is not replicated)."""
    root = PathsSettings(home=lh.home).site_tables_root(site)
    return {f"{t}/{f}" for t in DEFAULT_DR_TABLES for f in referenced_files(root / t)}


def replicate(lh) -> dict[str, int]:
    result = lh.defs.resolve_job_def("dr_replication").execute_in_process(instance=lh.instance, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["replica_matches_source"].passed, checks["replica_matches_source"].metadata
    assert checks["replication_lag"].passed
    metadata = result.asset_materializations_for_node("dr__replication")[0].metadata
    return {k: metadata[k].value for k in ("versions_copied", "data_files_copied", "data_bytes_copied")}


def test_fail_over_run_the_next_day_on_the_replica_replay_it_and_fail_back(make_lakehouse, monkeypatch):
    for variable in ("LAKEHOUSE_DR_TABLES", "DR_LAKEHOUSE_ROOT", "LAKEHOUSE_ACTIVE_SITE"):
        monkeypatch.delenv(variable, raising=False)
    lh = make_lakehouse("failover")
    lh.defs = definitions()
    lh.seed(days=3)
    for day in DAYS[:2]:
        for region in REGIONS:
            lh.export(day, region)
    lh.run(key(DAYS[0], REGIONS[0]), key(DAYS[1], REGIONS[-1]))

    first = replicate(lh)
    primary = snapshot(lh, Site.PRIMARY)
    assert snapshot(lh, Site.SECONDARY) == primary
    assert first["data_files_copied"] > 0

    # Failover: one setting; the same definitions now read and write the replica.
    monkeypatch.setenv("LAKEHOUSE_ACTIVE_SITE", "secondary")
    lh.defs = definitions()
    for region in REGIONS:
        lh.export(DAYS[2], region)
    day3 = (key(DAYS[2], REGIONS[0]), key(DAYS[2], REGIONS[-1]))
    lh.run(*day3)
    after_next_day = snapshot(lh, Site.SECONDARY)
    assert after_next_day != primary
    lh.run(*day3)
    assert snapshot(lh, Site.SECONDARY) == after_next_day, "replaying the last day on the replica changes nothing"
    assert snapshot(lh, Site.PRIMARY) == primary, "the primary was not written during the failover"

    # Fail-back: the same job now copies the secondary's new commits to the primary, and only those.
    written_during_failover = files(lh, Site.SECONDARY) - files(lh, Site.PRIMARY)
    back = replicate(lh)
    assert snapshot(lh, Site.PRIMARY) == after_next_day
    assert back["data_files_copied"] == len(written_during_failover) > 0
    assert files(lh, Site.PRIMARY) == files(lh, Site.SECONDARY)
    print(f"DR figures: first pass {first}, fail-back pass {back}")


@pytest.mark.parametrize(
    ("site", "expected"), [("primary", ("tables", "dr/tables")), ("secondary", ("dr/tables", "tables"))]
)
def test_one_setting_switches_the_tables_root(site, expected, tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    for var in ("LAKEHOUSE_TABLES_ROOT", "DR_LAKEHOUSE_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LAKEHOUSE_ACTIVE_SITE", site)
    settings = LakehouseSettings.from_env()
    paths = settings.paths
    assert (paths.local_tables_root, paths.standby_tables_root) == tuple(tmp_path / e for e in expected)
    replication = dr_resources(settings)["dr_replication"]
    assert (replication.source_root, replication.target_root) == tuple(str(tmp_path / e) for e in expected)
    assert resources_for(settings)["tables"].tables_root == str(tmp_path / expected[0])
