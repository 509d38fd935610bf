"""Every slice's failed runs reach ``ops/run_alerts``, with the failure sensor evaluated as the daemon does."""

import dagster as dg
import pytest

from mssql_lakehouse.defs.customer_360.sensors import customer_changes_sensor
from mssql_lakehouse.defs.finance.schedules import finance_close
from mssql_lakehouse.defs.inventory.sensors import inventory
from mssql_lakehouse.defs.run_alerts.sensors import record_failed_runs
from mssql_lakehouse.lib import run_alerts
from mssql_lakehouse_tests.sensors.daemon import Daemon

JOBS = ["sales_nightly", "sales_gold_refresh", finance_close.name, inventory.name, customer_changes_sensor.job_name]


@pytest.mark.parametrize("job_name", JOBS)
def test_a_failed_run_of_each_slice_is_recorded_once(job_name, tmp_path):
    uri = str(tmp_path / "ops" / "run_alerts")

    @dg.asset
    def source_unreachable():
        raise RuntimeError("source unreachable")

    # A stand-in with the slice's job name: what the sensor tells apart is the run's job.
    defs = dg.Definitions(
        assets=[source_unreachable],
        jobs=[dg.define_asset_job(job_name, selection=[source_unreachable])],
        resources={"run_alerts": run_alerts.RunAlertsTable(uri=uri)},
    )
    with dg.instance_for_test() as instance:
        daemon = Daemon.of(defs, instance, record_failed_runs)
        daemon.tick()  # started before the run, as in `make dev`
        result = defs.resolve_job_def(job_name).execute_in_process(instance=instance, raise_on_error=False)
        daemon.tick()
        daemon.tick()  # evaluated again: recorded once
    alerts = run_alerts.read(uri)
    assert [(a["job_name"], a["run_id"], a["kind"]) for a in alerts] == [(job_name, result.run_id, "run_failure")]
