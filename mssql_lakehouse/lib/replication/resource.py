"""The DR replica as a resource: which tables, copied from the active site to the standby site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field
from pyspark.sql import SparkSession

from mssql_lakehouse.lib.io.delta_tables import DeltaLocation
from mssql_lakehouse.lib.replication.databricks import last_clone, replicate_catalog_table
from mssql_lakehouse.lib.replication.delta_log import list_log
from mssql_lakehouse.lib.replication.local import TableReplication, replicate_table
from mssql_lakehouse.settings import Deployment, LakehouseSettings


class DrReplication(dg.ConfigurableResource):
    """Replicates ``tables`` from where the pipelines write (source) to the standby site (target).

    Locally the source and target are tables roots; on Databricks they are Unity Catalog catalogs.
    """

    tables: list[str] = Field(description="Tables to replicate, as layer/table.")
    source_root: str | None = Field(default=None, description="Local: the active site's tables root.")
    target_root: str | None = Field(default=None, description="Local: the standby site's tables root.")
    source_catalog: str | None = Field(default=None, description="Databricks: the catalog the pipelines write.")
    target_catalog: str | None = Field(default=None, description="Databricks: the DR catalog (LAKEHOUSE_DR_CATALOG).")
    max_lag_minutes: float = Field(default=120.0, description="Lag beyond which the lag check warns.")

    @property
    def on_catalogs(self) -> bool:
        return bool(self.source_catalog or self.target_catalog)

    def locations(self, table: str) -> tuple[DeltaLocation, DeltaLocation]:
        layer, name = table.split("/")
        if self.on_catalogs:
            if not (self.source_catalog and self.target_catalog):
                raise ValueError("DR replication on Databricks needs LAKEHOUSE_CATALOG and LAKEHOUSE_DR_CATALOG")
            return (
                DeltaLocation.for_table(layer, name, tables_root=None, catalog=self.source_catalog),
                DeltaLocation.for_table(layer, name, tables_root=None, catalog=self.target_catalog),
            )
        if not (self.source_root and self.target_root):
            raise ValueError("DR replication needs a source and a target tables root")
        if Path(self.source_root).resolve() == Path(self.target_root).resolve():
            raise ValueError(f"The DR replica cannot be the tables root itself ({self.source_root})")
        return (
            DeltaLocation.for_table(layer, name, tables_root=self.source_root, catalog=None),
            DeltaLocation.for_table(layer, name, tables_root=self.target_root, catalog=None),
        )

    def replicate(self, spark: SparkSession | None, table: str, *, force: bool = False) -> TableReplication:
        source, target = self.locations(table)
        if self.on_catalogs:
            assert spark is not None, "deep clones run on Spark"
            return replicate_catalog_table(spark, table, source, target, force=force)
        return replicate_table(Path(source.path), Path(target.path), name=table, force=force)

    def replicated_version(self, spark: SparkSession, table: str) -> int:
        """The source version the replica holds (-1 for none)."""
        _, target = self.locations(table)
        if self.on_catalogs:
            clone = last_clone(spark, target) if target.exists(spark) else None
            return clone[0] if clone else -1
        return list_log(Path(target.path)).version


def dr_resources(settings: LakehouseSettings) -> dict[str, Any]:
    """``dr_replication`` for the deployment: active site -> standby site, or catalog -> DR catalog.

    On Databricks a failover points ``LAKEHOUSE_CATALOG`` at the DR catalog (the settings refuse
    ``LAKEHOUSE_ACTIVE_SITE=secondary`` there).
    """
    common = {"tables": list(settings.dr.tables), "max_lag_minutes": settings.dr.max_lag_minutes}
    if settings.deployment is Deployment.DATABRICKS:
        return {
            "dr_replication": DrReplication(
                **common, source_catalog=settings.paths.catalog, target_catalog=settings.dr.catalog
            )
        }
    paths = settings.paths
    return {
        "dr_replication": DrReplication(
            **common, source_root=str(paths.local_tables_root), target_root=str(paths.standby_tables_root)
        )
    }
