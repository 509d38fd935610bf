"""Resources for the current deployment: the one place local and Databricks differ."""

from __future__ import annotations

from typing import Any

import dagster as dg

from mssql_lakehouse.io.delta_io_manager import DeltaLakePySparkIOManager
from mssql_lakehouse.resources.databricks import DatabricksSettings, databricks_step_launcher
from mssql_lakehouse.resources.spark import SparkResource
from mssql_lakehouse.settings import Deployment, LocalPaths, current_deployment


def resources_for(deployment: Deployment | None = None) -> dict[str, Any]:
    deployment = deployment or current_deployment()
    spark = SparkResource()
    if deployment is Deployment.DATABRICKS:
        settings = DatabricksSettings.from_env()
        return {
            "spark": spark,
            "io_manager": DeltaLakePySparkIOManager(spark=spark, catalog=settings.catalog),
            "step_launcher": databricks_step_launcher(settings),
        }
    paths = LocalPaths.from_env()
    return {
        "spark": spark,
        "io_manager": DeltaLakePySparkIOManager(spark=spark, tables_root=str(paths.tables_root)),
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
