"""The file-arrival sensor, with Dagster's sensor test utilities: one run per changed (day, region) folder."""

import os

import dagster as dg
import pytest

from mssql_lakehouse.defs.inventory.sensors import inventory_file_arrival
from mssql_lakehouse.defs.inventory.settings import InventoryConfig
from mssql_lakehouse.settings import LakehouseSettings


@pytest.fixture
def landing(lakehouse_home, monkeypatch):
    root = lakehouse_home / "landing" / "inventory"
    monkeypatch.delenv("LAKEHOUSE_INVENTORY_REGIONS", raising=False)
    return root


def land(folder, name: str, content: bytes = b"rows", mtime: int = 1_790_000_000) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    os.utime(path, (mtime, mtime))


def evaluate(instance, cursor: str | None) -> tuple[list[dg.RunRequest], str | None]:
    landing = InventoryConfig.from_settings(LakehouseSettings.from_env())
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"inventory_settings": landing})
    requests = [r for r in (inventory_file_arrival(context) or []) if isinstance(r, dg.RunRequest)]
    return requests, context.cursor


def test_a_run_per_folder_with_new_files_and_none_for_an_unchanged_folder(landing):
    land(landing / "amer" / "2026-11-01", "ProductInventory_amer_2026-11-01.parquet")
    land(landing / "emea" / "2026-11-01", "ProductInventory_emea_2026-11-01.csv")
    land(landing / "emea" / "2026-11-02", ".ProductInventory_emea_2026-11-02.parquet.writing")  # still being written
    land(landing / "amer" / "_autoloader", "state")
    land(landing / "amer" / "not-a-day", "x.parquet")

    with dg.instance_for_test() as instance:
        requests, cursor = evaluate(instance, None)
        assert sorted(r.partition_key for r in requests) == ["2026-11-01|amer", "2026-11-01|emea"]
        assert all(r.run_key.startswith(f"inventory-{r.partition_key}-") for r in requests)

        # Nothing changed: nothing is requested.
        again, cursor = evaluate(instance, cursor)
        assert again == []

        # A new file in one folder: one run for that partition, under a new run key.
        land(landing / "amer" / "2026-11-01", "ProductInventory_amer_2026-11-01_rerun.parquet")
        changed, cursor = evaluate(instance, cursor)
        assert [r.partition_key for r in changed] == ["2026-11-01|amer"]
        assert changed[0].run_key not in {r.run_key for r in requests}

        # A file rewritten in place (new size and time) is a new file set too.
        land(landing / "emea" / "2026-11-01", "ProductInventory_emea_2026-11-01.csv", b"more rows", mtime=1_790_000_100)
        rewritten, cursor = evaluate(instance, cursor)
        assert [r.partition_key for r in rewritten] == ["2026-11-01|emea"]
        assert evaluate(instance, cursor)[0] == []


def test_the_run_key_is_the_file_set_so_a_lost_cursor_requests_the_same_runs(landing):
    land(landing / "apac" / "2026-11-03", "ProductInventory_apac_2026-11-03.parquet")
    with dg.instance_for_test() as instance:
        first, _ = evaluate(instance, None)
        second, _ = evaluate(instance, None)
    assert [r.run_key for r in first] == [r.run_key for r in second]
    assert first[0].tags["lakehouse/trigger"] == "file_arrival"


def test_each_region_can_land_in_its_own_root(landing, tmp_path, monkeypatch):
    own_root = tmp_path / "emea-container"
    monkeypatch.setenv("LAKEHOUSE_LANDING_ROOT_EMEA", str(own_root))
    land(landing / "emea" / "2026-11-01", "ignored.parquet")  # the default root is no longer emea's
    land(own_root / "2026-11-01", "ProductInventory_emea_2026-11-01.parquet")
    with dg.instance_for_test() as instance:
        requests, _ = evaluate(instance, None)
    assert [r.partition_key for r in requests] == ["2026-11-01|emea"]
