"""Regions and landing roots are configuration."""

import pytest

from mssql_lakehouse.defs.inventory.settings import InventoryConfig
from mssql_lakehouse.settings import LakehouseSettings


def inventory_regions() -> tuple[str, ...]:
    return LakehouseSettings.from_env().inventory.regions


def landing() -> InventoryConfig:
    return InventoryConfig.from_settings(LakehouseSettings.from_env())


def test_regions_default_to_amer_emea_apac_and_are_configurable(monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_INVENTORY_REGIONS", raising=False)
    assert inventory_regions() == ("amer", "emea", "apac")
    monkeypatch.setenv("LAKEHOUSE_INVENTORY_REGIONS", "amer, latam")
    assert inventory_regions() == ("amer", "latam")
    for bad in ("amer,amer", "Amer", "a-b"):
        monkeypatch.setenv("LAKEHOUSE_INVENTORY_REGIONS", bad)
        with pytest.raises(ValueError):
            inventory_regions()


def test_each_region_lands_under_the_home_unless_it_has_its_own_root(lakehouse_home, monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_DEPLOYMENT", raising=False)
    assert (
        landing().landing_dir("amer", "2026-11-01") == f"{lakehouse_home.resolve()}/landing/inventory/amer/2026-11-01"
    )
    monkeypatch.setenv("LAKEHOUSE_LANDING_ROOT_EMEA", "abfss://landing@emeastore.dfs.core.windows.net/inventory/")
    assert (
        landing().landing_dir("emea", "2026-11-01")
        == "abfss://landing@emeastore.dfs.core.windows.net/inventory/2026-11-01"
    )


def test_on_databricks_the_default_root_is_a_volume_of_the_catalog(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_DEPLOYMENT", "databricks")
    monkeypatch.setenv("LAKEHOUSE_CATALOG", "lakehouse_prod")
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")  # on the cluster: no workspace settings needed
    monkeypatch.delenv("LAKEHOUSE_TABLES_ROOT", raising=False)
    monkeypatch.delenv("LAKEHOUSE_LANDING_ROOT_APAC", raising=False)
    assert landing().landing_root("apac") == "/Volumes/lakehouse_prod/landing/inventory/apac"
