"""Runs pipeline steps in a fresh interpreter, so the definitions are built from its environment.

Partitions are built when their module is imported (``mssql_lakehouse.lib.partitions``), so a test
process that already imported them with another ``LAKEHOUSE_ERP_TIMEZONE`` cannot change their
zone. The test starts this module with the zone it wants; it seeds the demo ERP of
``LAKEHOUSE_HOME``, runs the steps in one persistent Dagster instance and prints one JSON object
per step (``{"step": ..., "success": ..., "errors": [...]}``) on the last line of stdout.

Steps (JSON list, argv[1]): ``{"seed": {"start": "YYYY-MM-DD", "days": n, "scale": s}}``,
``{"job": name, "partition": key}`` (a job of the code location) and
``{"assets": "sales" | "customer_360", "partition": key}`` (a slice's bronze and silver
orders or customers of a day).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import Any

import dagster as dg

from mssql_lakehouse.definitions import build_defs
from mssql_lakehouse.defs.customer_360.bronze import customer_changes
from mssql_lakehouse.defs.customer_360.silver import customers_history_and_customers
from mssql_lakehouse.defs.sales import bronze as sales_bronze
from mssql_lakehouse.defs.sales import silver as sales_silver
from mssql_lakehouse.lib.resources.deployment import resources_for
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_demo import seed

ASSETS = {
    "sales": [
        sales_bronze.sales_order_header,
        sales_bronze.sales_order_detail,
        sales_bronze.sales_order_deletes,
        sales_silver.sales_orders,
    ],
    "customer_360": [customer_changes, customers_history_and_customers],
}


def _failures(result: dg.ExecuteInProcessResult) -> list[str]:
    """Each failed step's error, first line of its message (the cause a reader needs)."""
    return [
        f"{e.step_key}: {e.step_failure_data.error.message.strip()[:600]}"
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.error is not None
    ]


def run_step(step: dict[str, Any], instance: dg.DagsterInstance) -> dict[str, Any]:
    began = time.perf_counter()
    outcome = {"step": step, **_run(step, instance), "seconds": round(time.perf_counter() - began, 1)}
    print(json.dumps(outcome), file=sys.stderr, flush=True)  # progress, for a reader of a slow run
    return outcome


def _run(step: dict[str, Any], instance: dg.DagsterInstance) -> dict[str, Any]:
    if "seed" in step:
        options = step["seed"]
        seed(
            LakehouseSettings.from_env().paths.demo_erp_dir,
            dt.date.fromisoformat(options["start"]),
            options["days"],
            options["scale"],
        )
        return {"success": True, "errors": []}
    if "job" in step:
        job = build_defs(LakehouseSettings.from_env()).resolve_job_def(step["job"])
        result = job.execute_in_process(instance=instance, partition_key=step["partition"], raise_on_error=False)
    else:
        resources = resources_for(LakehouseSettings.from_env())
        result = dg.materialize(
            ASSETS[step["assets"]],
            instance=instance,
            resources=resources,
            partition_key=step["partition"],
            raise_on_error=False,
        )
    failed_checks = [
        f"{e.asset_key.to_user_string()}:{e.check_name}" for e in result.get_asset_check_evaluations() if not e.passed
    ]
    return {"success": result.success, "errors": _failures(result), "failed_checks": failed_checks}


def main(argv: list[str]) -> None:
    steps = json.loads(argv[1])
    dagster_home = LakehouseSettings.from_env().paths.home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    outcomes = []
    with dg.DagsterInstance.local_temp(str(dagster_home)) as instance:
        for step in steps:
            outcomes.append(run_step(step, instance))
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main(sys.argv)
