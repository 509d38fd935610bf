"""Resources for the settings' deployment: the one place local and Databricks differ."""

from __future__ import annotations

from typing import Any

import dagster as dg

from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
from mssql_lakehouse.defs.finance.settings import finance_resources
from mssql_lakehouse.defs.inventory.settings import InventoryConfig
from mssql_lakehouse.defs.sales.resources import SkuAlertSettings
from mssql_lakehouse.lib.alert_webhook import AlertWebhook
from mssql_lakehouse.lib.io.delta_io_manager import DeltaLakePySparkIOManager
from mssql_lakehouse.lib.io.tables_resource import LakehouseTables
from mssql_lakehouse.lib.replication import dr_resources
from mssql_lakehouse.lib.resources.databricks import DatabricksSettings, DatabricksTables, databricks_step_launcher
from mssql_lakehouse.lib.resources.spark import SparkResource
from mssql_lakehouse.lib.run_alerts import RunAlertsTable
from mssql_lakehouse.lib.sources import MssqlSource
from mssql_lakehouse.settings import Deployment, LakehouseSettings


def erp_source(settings: LakehouseSettings) -> MssqlSource:
    """The ERP database: a real SQL Server when ``MSSQL_SERVER`` is set, else the embedded demo.

    Either way its clock is the business day's zone (``LAKEHOUSE_ERP_TIMEZONE``), which the partitions use too.
    """
    if settings.sources.uses_sql_server:
        return MssqlSource.from_settings(settings)
    return MssqlSource.demo(settings.paths.demo_erp_dir / "erp.duckdb", settings, database="erp")


def resources_for(settings: LakehouseSettings) -> dict[str, Any]:
    spark = SparkResource.from_settings(settings)
    shared = {
        "spark": spark,
        "erp": erp_source(settings),
        "sku_alert_settings": SkuAlertSettings(),
        "customer_cdc": CustomerCdcSettings.from_settings(settings),
        "inventory_settings": InventoryConfig.from_settings(settings),
        "run_alerts": RunAlertsTable(uri=str(settings.paths.run_alerts_uri)),
        "alert_webhook": AlertWebhook(url=settings.alerts.webhook_url, format=settings.alerts.webhook_format),
        **finance_resources(settings),
        **dr_resources(settings),
    }
    if settings.deployment is Deployment.DATABRICKS:
        tables = DatabricksTables.from_settings(settings.paths)
        if settings.paths.on_databricks:
            # On the cluster the step is already remote: it needs the tables, not the workspace settings.
            launcher = dg.ResourceDefinition.none_resource(description="Already running on the Databricks cluster.")
        else:
            launcher = databricks_step_launcher(DatabricksSettings.from_settings(settings))
        return {
            **shared,
            "tables": LakehouseTables(catalog=tables.catalog, tables_root=tables.tables_root),
            "io_manager": DeltaLakePySparkIOManager(
                spark=spark, catalog=tables.catalog, tables_root=tables.tables_root
            ),
            "step_launcher": launcher,
        }
    tables_root = str(settings.paths.local_tables_root)
    return {
        **shared,
        "tables": LakehouseTables(tables_root=tables_root),
        "io_manager": DeltaLakePySparkIOManager(spark=spark, tables_root=tables_root),
        "step_launcher": dg.ResourceDefinition.none_resource(
            description="Local runs execute in-process on local Spark; no step launcher."
        ),
    }


def executor_for(settings: LakehouseSettings) -> dg.ExecutorDefinition:
    """Local runs share one Spark JVM in one process; Databricks steps each run on the cluster."""
    if settings.deployment is Deployment.DATABRICKS:
        return dg.multiprocess_executor
    return dg.in_process_executor
