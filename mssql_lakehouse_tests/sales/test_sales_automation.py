"""The nightly schedule and the run-alert sensors, with Dagster's own test utilities."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from mssql_lakehouse.defs.run_alerts.sensors import record_failed_runs
from mssql_lakehouse.defs.sales.schedules import sales_nightly_at_erp_cutoff
from mssql_lakehouse.defs.sales.sensors import sales_late_data, stale_gold_ranges
from mssql_lakehouse.lib import run_alerts
from mssql_lakehouse.lib.alert_webhook import AlertWebhook
from mssql_lakehouse.settings import LakehouseSettings


def test_nightly_schedule_requests_the_erp_day_that_ended_with_a_run_key(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_ERP_TIMEZONE", "UTC")
    schedule = sales_nightly_at_erp_cutoff(LakehouseSettings.from_env())
    assert schedule.cron_schedule == "0 2 * * *"
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 6, 2, 0, tzinfo=ZoneInfo("UTC")))
    request = schedule(context)
    assert request.partition_key == "2026-11-05"
    assert request.run_key == "sales-nightly-2026-11-05"


def test_cutoff_cron_is_configurable(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_SALES_CUTOFF_CRON", "30 3 * * *")
    assert sales_nightly_at_erp_cutoff(LakehouseSettings.from_env()).cron_schedule == "30 3 * * *"


def _materialization(run_id: str, storage_id: int, partition: str, touched: list[str]) -> dg.EventLogRecord:
    event = dg.EventLogEntry(
        error_info=None,
        level="INFO",
        user_message="",
        run_id=run_id,
        timestamp=0.0,
        dagster_event=dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.ASSET_MATERIALIZATION.value,
            job_name="sales_nightly",
            event_specific_data=dg._core.events.StepMaterializationData(
                dg.AssetMaterialization(
                    asset_key=["silver", "sales_orders"],
                    partition=partition,
                    metadata={"touched_partition_values": dg.MetadataValue.json(touched)},
                )
            ),
        ),
    )
    return dg.EventLogRecord(storage_id=storage_id, event_log_entry=event)


def test_only_dates_outside_the_runs_own_partitions_are_stale_with_their_rolling_week():
    records = [
        _materialization("run-a", 10, "2026-11-09", ["2026-11-02", "2026-11-09"]),
        _materialization("run-a", 11, "2026-11-10", ["2026-11-10"]),
    ]
    known = {f"2026-11-{d:02d}" for d in range(1, 11)}
    assert stale_gold_ranges(records, known) == {"2026-11-02": ("2026-11-08", 10)}


def test_a_failed_nightly_run_is_recorded_once_for_planners(tmp_path):
    uri = str(tmp_path / "ops" / "run_alerts")

    @dg.asset
    def breaks():
        raise RuntimeError("ERP unreachable")

    job = dg.define_asset_job("sales_nightly", selection=[breaks])
    defs = dg.Definitions(assets=[breaks], jobs=[job])
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("sales_nightly").execute_in_process(instance=instance, raise_on_error=False)
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        for _ in range(2):  # a sensor evaluated twice records the run once
            context = dg.build_run_status_sensor_context(
                sensor_name="record_failed_runs",
                dagster_instance=instance,
                dagster_run=result.dagster_run,
                dagster_event=failure,
                resources={"run_alerts": run_alerts.RunAlertsTable(uri=uri), "alert_webhook": AlertWebhook()},
            ).for_run_failure()
            record_failed_runs(context)
    alerts = run_alerts.read(uri)
    assert [(a["job_name"], a["run_id"], a["kind"]) for a in alerts] == [
        ("sales_nightly", result.run_id, "run_failure")
    ]


def test_late_data_waits_for_the_run_that_wrote_it_to_finish():
    # A nightly run's silver orders touch an older day while its lines and gold steps still run. A
    # refresh requested then would race the run on the same gold days and read lines not yet merged.
    with dg.instance_for_test() as instance:
        run = create_run_for_test(instance, job_name="sales_nightly", status=dg.DagsterRunStatus.STARTED)
        orders = _materialization(run.run_id, 0, "2026-11-10", ["2026-11-08", "2026-11-10"])
        instance.report_dagster_event(orders.event_log_entry.dagster_event, run.run_id)

        def tick(cursor: str | None) -> tuple[list[dg.RunRequest], str | None]:
            context = dg.build_sensor_context(instance=instance, cursor=cursor, sensor_name="sales_late_data")
            requests = [r for r in sales_late_data(context) if isinstance(r, dg.RunRequest)]
            return requests, context.cursor

        during, cursor = tick(None)
        assert during == []

        instance.report_dagster_event(
            dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_SUCCESS.value, job_name="sales_nightly"),
            run.run_id,
        )
        [after], cursor = tick(cursor)
        assert (after.tags["dagster/asset_partition_range_start"], after.tags["dagster/asset_partition_range_end"]) == (
            "2026-11-08",
            "2026-11-10",
        )
        assert tick(cursor)[0] == []
