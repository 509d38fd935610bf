"""Failed runs and failed checks of every job of the code location, recorded in ``ops/run_alerts`` for planners.

Every slice's runs are recorded: the sales jobs, the Customer 360 runs its change sensor
requests, the inventory and finance jobs, the DR replica and runs launched from the UI. What is
newly recorded is then posted to the alert webhook when one is configured (failed runs and
failed error-severity checks): a sensor evaluated again for the same run posts nothing more.
"""

import dagster as dg

from mssql_lakehouse.lib.alert_webhook import AlertWebhook, WebhookPostError
from mssql_lakehouse.lib.run_alerts import RunAlert, RunAlertsTable


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


# Without monitored_jobs a run status sensor watches every job of its code location, including
# the job a sensor with an asset selection as target runs (Customer 360).
@dg.run_failure_sensor(name="record_failed_runs", default_status=dg.DefaultSensorStatus.RUNNING)
def record_failed_runs(context: dg.RunFailureSensorContext, run_alerts: RunAlertsTable, alert_webhook: AlertWebhook):
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
    _notify(context, alert_webhook, run_alerts.record([failure, *failed_checks(context.instance, run)]))


@dg.run_status_sensor(
    name="record_failed_checks", run_status=dg.DagsterRunStatus.SUCCESS, default_status=dg.DefaultSensorStatus.RUNNING
)
def record_failed_checks(context: dg.RunStatusSensorContext, run_alerts: RunAlertsTable, alert_webhook: AlertWebhook):
    _notify(context, alert_webhook, run_alerts.record(failed_checks(context.instance, context.dagster_run)))


def _notify(context: dg.RunStatusSensorContext, webhook: AlertWebhook, recorded: list[RunAlert]) -> None:
    """Post what was just recorded. A webhook that fails is logged, not retried: the run's
    alerts stay in ``ops/run_alerts``, and the sensor goes on with the next runs."""
    try:
        webhook.post(recorded)
    except WebhookPostError as error:
        context.log.warning(f"Alerts of run {context.dagster_run.run_id} recorded but not posted: {error}")
