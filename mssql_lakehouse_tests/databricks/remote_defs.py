"""The code location the Databricks stand-in tests run (TEST FIXTURE), shipped to the cluster with our code.

``lakehouse_defs`` is called on each side of the launcher and reads the deployment from
the environment there: the launching side gets the step launcher, the cluster the tables.
Besides part of the sales slice it holds two probes that need no Spark: one reports
whether the SQL Server password reached the cluster's environment, one raises.
"""

import os
import time

import dagster as dg

from mssql_lakehouse.defs.sales import bronze, silver
from mssql_lakehouse.lib.resources.deployment import executor_for, resources_for
from mssql_lakehouse.settings import LakehouseSettings

PROBES = "standin_probes"


class RemoteStepFailure(Exception):
    """Raised on the cluster by ``failing_step``."""


@dg.asset(group_name=PROBES, required_resource_keys={"step_launcher"})
def secret_probe() -> dg.MaterializeResult:
    """Says whether MSSQL_PASSWORD is set where the step runs, never what it is."""
    return dg.MaterializeResult(metadata={"mssql_password_present": bool(os.environ.get("MSSQL_PASSWORD"))})


@dg.asset(group_name=PROBES, required_resource_keys={"step_launcher"})
def slow_step() -> dg.MaterializeResult:
    """Takes longer than the run timeout of the test that runs it."""
    time.sleep(120)
    return dg.MaterializeResult()


@dg.asset(group_name=PROBES, required_resource_keys={"step_launcher"})
def failing_step() -> dg.MaterializeResult:
    """Fails on the cluster, the way a bug in an asset would."""
    raise RemoteStepFailure(f"order 43659 has no customer (raised on {os.environ.get('DATABRICKS_RUNTIME_VERSION')})")


sales_job = dg.define_asset_job(
    "standin_sales",
    selection=dg.AssetSelection.assets(["bronze", "sales_order_header"], ["silver", "sales_orders"]),
)
probes_job = dg.define_asset_job("standin_probes", selection=dg.AssetSelection.groups(PROBES))


def lakehouse_defs() -> dg.Definitions:
    settings = LakehouseSettings.from_env({**os.environ, "LAKEHOUSE_DEPLOYMENT": "databricks"})
    return dg.Definitions(
        assets=[*dg.load_assets_from_modules([bronze, silver]), secret_probe, slow_step, failing_step],
        jobs=[sales_job, probes_job],
        resources=resources_for(settings),
        executor=executor_for(settings),
    )
