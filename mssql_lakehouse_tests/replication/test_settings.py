"""DR settings and the Databricks deep-clone path (which cannot run here: its statements are checked)."""

import os

import pytest

from mssql_lakehouse.lib.io.delta_tables import DeltaLocation
from mssql_lakehouse.lib.replication import dr_resources
from mssql_lakehouse.lib.replication.databricks import clone_divergence, deep_clone_sql
from mssql_lakehouse.settings import LakehouseSettings


def dr_tables() -> list[str]:
    return list(LakehouseSettings.from_env().dr.tables)


def databricks_settings() -> LakehouseSettings:
    """The databricks deployment's settings as the cluster reads them (it needs no workspace settings)."""
    on_cluster = {"LAKEHOUSE_DEPLOYMENT": "databricks", "DATABRICKS_RUNTIME_VERSION": "17.3"}
    return LakehouseSettings.from_env({**os.environ, **on_cluster})


def test_dr_tables_default_to_inventory_and_accept_only_identifiers(monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_DR_TABLES", raising=False)
    assert dr_tables() == [
        "bronze/inventory_snapshots",
        "bronze/inventory_rejected_files",
        "silver/inventory",
        "gold/inventory_position",
    ]
    monkeypatch.setenv("LAKEHOUSE_DR_TABLES", "silver/sales_orders, gold/x,silver/sales_orders")
    assert dr_tables() == ["silver/sales_orders", "gold/x"]
    monkeypatch.setenv("LAKEHOUSE_DR_TABLES", "silver/x`; DROP TABLE y")
    with pytest.raises(ValueError, match="identifiers"):
        dr_tables()


def test_databricks_replicates_by_deep_clone_into_the_dr_catalog(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_CATALOG", "lakehouse_prod")
    monkeypatch.setenv("LAKEHOUSE_DR_CATALOG", "lakehouse_dr")
    monkeypatch.delenv("LAKEHOUSE_ACTIVE_SITE", raising=False)
    replication = dr_resources(databricks_settings())["dr_replication"]
    source, target = replication.locations("silver/inventory")
    assert deep_clone_sql(source, target, 42) == (
        "CREATE OR REPLACE TABLE `lakehouse_dr`.`silver`.`inventory` DEEP CLONE "
        "`lakehouse_prod`.`silver`.`inventory` VERSION AS OF 42"
    )
    assert isinstance(source, DeltaLocation) and source.catalog == "lakehouse_prod"


def test_databricks_fails_over_by_catalog_not_by_site(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_ACTIVE_SITE", "secondary")
    with pytest.raises(ValueError, match="LAKEHOUSE_DR_CATALOG at the primary"):
        dr_resources(databricks_settings())


def test_a_catalog_target_with_its_own_commits_is_diverged_unless_the_source_took_over_from_it():
    primary = DeltaLocation("silver", "inventory", catalog="lakehouse_prod")
    assert clone_divergence(primary, 7, "CLONE", None) is None
    # Fail-back: the DR table was last cloned from the primary at the primary's current version.
    assert clone_divergence(primary, 7, "MERGE", (7, "`lakehouse_prod`.`silver`.`inventory`")) is None
    assert "version 8 (MERGE)" in clone_divergence(primary, 8, "MERGE", (7, "lakehouse_prod.silver.inventory"))
    assert clone_divergence(primary, 7, "WRITE", (7, "lakehouse_other.silver.inventory")) is not None
