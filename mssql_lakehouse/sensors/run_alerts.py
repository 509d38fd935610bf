"""Failed nightly runs and failed checks, recorded in ``ops/run_alerts`` for planners."""

import dagster as dg

from mssql_lakehouse.jobs import sales_gold_refresh_job, sales_nightly_job
from mssql_lakehouse.ops.run_alerts import RunAlert, record
from mssql_lakehouse.settings import run_alerts_uri

MONITORED = [sales_nightly_job, sales_gold_refresh_job]


def failed_checks(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[RunAlert]:
    alerts = []
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        if evaluation.passed:
            continue
        alerts.append(
            RunAlert(
                job_name=run.job_name,
                run_id=run.run_id,
                partition=_partition(run),
                kind="check_failure",
                asset_key=evaluation.asset_key.to_user_string(),
                check_name=evaluation.check_name,
                severity=evaluation.severity.value,
                message=evaluation.description or f"check {evaluation.check_name} failed",
            )
        )
    return alerts


def _partition(run: dg.DagsterRun) -> str:
    tags = run.tags
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return f"{start}..{end}" if start else ""


@dg.run_failure_sensor(name="record_failed_sales_runs", monitored_jobs=MONITORED, default_status=dg.DefaultSensorStatus.RUNNING)
def record_failed_runs(context: dg.RunFailureSensorContext):
    run = context.dagster_run
    failure = RunAlert(
        job_name=run.job_name,
        run_id=run.run_id,
        partition=_partition(run),
        kind="run_failure",
        asset_key="",
        check_name="",
        severity="ERROR",
        message=(context.failure_event.message or "run failed")[:2000],
    )
    record(run_alerts_uri(), [failure, *failed_checks(context.instance, run)])


@dg.run_status_sensor(
    name="record_failed_sales_checks",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=MONITORED,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def record_failed_checks(context: dg.RunStatusSensorContext):
    record(run_alerts_uri(), failed_checks(context.instance, context.dagster_run))
