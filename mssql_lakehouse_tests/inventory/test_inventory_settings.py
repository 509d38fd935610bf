"""Regions and landing roots are configuration."""

import pytest

from mssql_lakehouse.defs.inventory.settings import inventory_regions, landing_dir, landing_root


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
    assert landing_dir("amer", "2026-11-01") == f"{lakehouse_home.resolve()}/landing/inventory/amer/2026-11-01"
    monkeypatch.setenv("LAKEHOUSE_LANDING_ROOT_EMEA", "abfss://landing@emeastore.dfs.core.windows.net/inventory/")
    assert landing_dir("emea", "2026-11-01") == "abfss://landing@emeastore.dfs.core.windows.net/inventory/2026-11-01"


def test_on_databricks_the_default_root_is_a_volume_of_the_catalog(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_DEPLOYMENT", "databricks")
    monkeypatch.setenv("LAKEHOUSE_CATALOG", "lakehouse_prod")
    monkeypatch.delenv("LAKEHOUSE_LANDING_ROOT_APAC", raising=False)
    assert landing_root("apac") == "/Volumes/lakehouse_prod/landing/inventory/apac"
