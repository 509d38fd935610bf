"""Every slice's failed runs reach ``ops/run_alerts`` and the alert webhook, with the sensors evaluated as the
daemon does and the webhook a real HTTP server on loopback."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from mssql_lakehouse.defs.customer_360.sensors import customer_changes_sensor
from mssql_lakehouse.defs.finance.schedules import finance_close
from mssql_lakehouse.defs.inventory.sensors import inventory
from mssql_lakehouse.defs.run_alerts.sensors import record_failed_checks, record_failed_runs
from mssql_lakehouse.lib import run_alerts
from mssql_lakehouse.lib.alert_webhook import AlertWebhook
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
        resources={"run_alerts": run_alerts.RunAlertsTable(uri=uri), "alert_webhook": AlertWebhook()},
    )
    with dg.instance_for_test() as instance:
        daemon = Daemon.of(defs, instance, record_failed_runs)
        daemon.tick()  # started before the run, as in `make dev`
        result = defs.resolve_job_def(job_name).execute_in_process(instance=instance, raise_on_error=False)
        daemon.tick()
        daemon.tick()  # evaluated again: recorded once
    alerts = run_alerts.read(uri)
    assert [(a["job_name"], a["run_id"], a["kind"]) for a in alerts] == [(job_name, result.run_id, "run_failure")]


class Receiver:
    """An incoming webhook on loopback: records each post's path and JSON body, answers ``status``."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((self.path, json.loads(body)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # The path stands for the secret part of a real webhook URL.
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T000/B000/s3cr3t-token"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def failing_run_defs(uri: str, webhook: AlertWebhook, downstream_fails: bool) -> dg.Definitions:
    """``orders`` with a failed error check and a failed warning check; ``downstream`` fails the run if asked."""

    @dg.asset
    def orders() -> int:
        return 1

    @dg.asset_check(asset=orders)
    def totals_reconcile() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description="totals differ")

    @dg.asset_check(asset=orders)
    def few_rows() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description="fewer rows")

    @dg.asset(deps=[orders])
    def downstream() -> None:
        if downstream_fails:
            raise RuntimeError("source unreachable")

    return dg.Definitions(
        assets=[orders, downstream],
        asset_checks=[totals_reconcile, few_rows],
        jobs=[dg.define_asset_job("sales_nightly", selection=[orders, downstream])],
        resources={"run_alerts": run_alerts.RunAlertsTable(uri=uri), "alert_webhook": webhook},
    )


def test_a_failed_run_and_its_error_check_are_posted_once_to_slack(tmp_path, receiver):
    defs = failing_run_defs(str(tmp_path / "run_alerts"), AlertWebhook(url=receiver.url), downstream_fails=True)
    with dg.instance_for_test() as instance:
        daemon = Daemon.of(defs, instance, record_failed_runs)
        daemon.tick()
        result = defs.resolve_job_def("sales_nightly").execute_in_process(instance=instance, raise_on_error=False)
        daemon.tick()
        daemon.tick()  # evaluated again: posted once

    assert not result.success
    assert len(receiver.posts) == 1
    path, body = receiver.posts[0]
    assert path == "/hooks/T000/B000/s3cr3t-token"
    text = body["text"]
    assert f"Run of sales_nightly failed (run {result.run_id})" in text
    assert "Check orders:totals_reconcile failed in sales_nightly" in text and "totals differ" in text
    assert "few_rows" not in text  # a warning stays in ops/run_alerts
    kinds = sorted((a["kind"], a["check_name"]) for a in run_alerts.read(str(tmp_path / "run_alerts")))
    assert kinds == [("check_failure", "few_rows"), ("check_failure", "totals_reconcile"), ("run_failure", "")]


def test_a_failed_error_check_of_a_successful_run_is_posted_to_teams_as_an_adaptive_card(tmp_path, receiver):
    webhook = AlertWebhook(url=receiver.url, format="teams")
    defs = failing_run_defs(str(tmp_path / "run_alerts"), webhook, downstream_fails=False)
    with dg.instance_for_test() as instance:
        daemon = Daemon.of(defs, instance, record_failed_checks)
        daemon.tick()
        result = defs.resolve_job_def("sales_nightly").execute_in_process(instance=instance, raise_on_error=False)
        daemon.tick()
        daemon.tick()

    assert result.success
    assert len(receiver.posts) == 1
    (attachment,) = receiver.posts[0][1]["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    texts = [block["text"] for block in attachment["content"]["body"]]
    assert texts[0] == "mssql_lakehouse: 1 failure"
    assert texts[1].startswith("Check orders:totals_reconcile failed in sales_nightly")


def test_a_webhook_that_fails_is_logged_without_its_url_and_the_alerts_stay_recorded(tmp_path, receiver):
    receiver.status = 500
    defs = failing_run_defs(str(tmp_path / "run_alerts"), AlertWebhook(url=receiver.url), downstream_fails=True)
    with dg.instance_for_test() as instance:
        daemon = Daemon.of(defs, instance, record_failed_runs)
        daemon.tick()
        defs.resolve_job_def("sales_nightly").execute_in_process(instance=instance, raise_on_error=False)
        tick = daemon.tick()

    assert len(receiver.posts) == 1
    assert any("recorded but not posted: the slack webhook answered HTTP 500" in line for line in tick.log)
    assert not any("s3cr3t" in line or "127.0.0.1" in line for line in tick.log)
    assert len(run_alerts.read(str(tmp_path / "run_alerts"))) == 3
