"""Resources for the current deployment: the one place local and Databricks differ."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from mssql_lakehouse.defs.customer_360.assets import CustomerCdcSettings
from mssql_lakehouse.defs.finance.settings import finance_resources
from mssql_lakehouse.lib.io.delta_io_manager import DeltaLakePySparkIOManager
from mssql_lakehouse.lib.io.tables_resource import LakehouseTables
from mssql_lakehouse.lib.replication import dr_resources
from mssql_lakehouse.defs.sales.resources import SkuAlertSettings
from mssql_lakehouse.lib.resources.databricks import DatabricksSettings, DatabricksTables, databricks_step_launcher
from mssql_lakehouse.lib.resources.spark import SparkResource
from mssql_lakehouse.settings import Deployment, LocalPaths, current_deployment, running_on_databricks
from mssql_lakehouse.lib.sources import MssqlSource


def erp_source() -> MssqlSource:
    """The ERP database: a real SQL Server when ``MSSQL_SERVER`` is set, else the embedded demo.

    Either way its clock is the business day's zone (``LAKEHOUSE_ERP_TIMEZONE``, see
    :func:`mssql_lakehouse.settings.erp_timezone`), which the partitions use too.
    """
    if os.environ.get("MSSQL_SERVER"):
        return MssqlSource.from_env("MSSQL")
    return MssqlSource.demo(LocalPaths.from_env().demo_erp_dir / "erp.duckdb", database="erp")


def resources_for(deployment: Deployment | None = None) -> dict[str, Any]:
    deployment = deployment or current_deployment()
    spark = SparkResource()
    shared = {
        "spark": spark,
        "erp": erp_source(),
        "sku_alert_settings": SkuAlertSettings(),
        "customer_cdc": CustomerCdcSettings.from_env(),
        **finance_resources(deployment),
        **dr_resources(deployment),
    }
    if deployment is Deployment.DATABRICKS:
        # On the cluster the step is already remote: it needs the tables, not the workspace settings.
        if running_on_databricks():
            tables = DatabricksTables.from_env()
            launcher = dg.ResourceDefinition.none_resource(description="Already running on the Databricks cluster.")
        else:
            settings = DatabricksSettings.from_env()
            tables, launcher = settings.tables, databricks_step_launcher(settings)
        return {
            **shared,
            "tables": LakehouseTables(catalog=tables.catalog, tables_root=tables.tables_root),
            "io_manager": DeltaLakePySparkIOManager(spark=spark, catalog=tables.catalog, tables_root=tables.tables_root),
            "step_launcher": launcher,
        }
    tables_root = str(LocalPaths.from_env().tables_root)
    return {
        **shared,
        "tables": LakehouseTables(tables_root=tables_root),
        "io_manager": DeltaLakePySparkIOManager(spark=spark, tables_root=tables_root),
        "step_launcher": dg.ResourceDefinition.none_resource(
            description="Local runs execute in-process on local Spark; no step launcher."
        ),
    }


def executor_for(deployment: Deployment | None = None) -> dg.ExecutorDefinition:
    """Local runs share one Spark JVM in one process; Databricks steps each run on the cluster."""
    deployment = deployment or current_deployment()
    if deployment is Deployment.DATABRICKS:
        return dg.multiprocess_executor
    return dg.in_process_executor
