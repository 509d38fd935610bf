"""The real dagster-databricks step launcher, configured as in production, against the workspace stand-in.

Each test runs a Dagster job with LAKEHOUSE_DEPLOYMENT=databricks: the launcher zips our
code, uploads it with the pickled step to the stand-in's DBFS, submits a one-time run
and polls it; the stand-in runs the step in its own process (a Spark driver with Delta
where the step needs one) and the launcher streams the step's events back.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import os
import zipfile
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._serdes import serialize_value

from mssql_lakehouse.defs.sales import bronze
from mssql_lakehouse.lib.resources.deployment import resources_for
from mssql_lakehouse.settings import LakehouseSettings, project_root
from mssql_lakehouse_demo import seed
from mssql_lakehouse_tests.databricks.conftest import SQL_SERVER_PASSWORD
from mssql_lakehouse_tests.databricks.workspace_standin import KNOWN_CLUSTER

pytestmark = pytest.mark.databricks_standin

DAY = dt.date(2026, 11, 1)
HEADER = dg.AssetKey(["bronze", "sales_order_header"])
ORDERS = dg.AssetKey(["silver", "sales_orders"])


def _of_type(events: list[dg.EventLogEntry], event_type: dg.DagsterEventType) -> list[dg.DagsterEvent]:
    return [e.dagster_event for e in events if e.dagster_event and e.dagster_event.event_type == event_type]


def _errors(events: list[dg.EventLogEntry]):
    """Every error the event log carries, with the errors that caused it."""
    for event in _of_type(events, dg.DagsterEventType.STEP_FAILURE) + _of_type(events, dg.DagsterEventType.RUN_FAILURE):
        error = getattr(event.event_specific_data, "error", None)
        while error is not None:
            yield error
            error = error.cause


def _failure_text(events: list[dg.EventLogEntry]) -> str:
    return "\n".join(error.to_string() for error in _errors(events))


def _submitted_tasks(standin) -> list[dict]:
    return [r["body"]["tasks"][0] for r in standin.requests if r["path"] == "/api/2.2/jobs/runs/submit"]


def _expected_order_ids(demo_dir: Path, day: dt.date) -> list[int]:
    """Straight from the ERP: the orders last modified that day (deleted ones are gone from it)."""
    with duckdb.connect(str(demo_dir / "erp.duckdb"), read_only=True) as con:
        rows = con.execute(
            'SELECT "SalesOrderID" FROM "Sales"."SalesOrderHeader" WHERE "ModifiedDate" >= ? AND "ModifiedDate" < ?',
            [day, day + dt.timedelta(days=1)],
        ).fetchall()
    return sorted(r[0] for r in rows)


def test_a_partition_of_silver_sales_orders_runs_on_the_cluster_and_writes_its_delta_table(databricks, spark):
    seed(databricks.demo_dir, DAY, 1, 0.01)
    # The deletes of the day are already in the lakehouse (landed by an earlier local run).
    local = LakehouseSettings.from_env({**os.environ, "LAKEHOUSE_DEPLOYMENT": "local"})
    dg.materialize([bronze.sales_order_deletes], partition_key=DAY.isoformat(), resources=resources_for(local))

    run, events = databricks.run("standin_sales", [HEADER, ORDERS], partition=DAY.isoformat())

    assert run.is_success, _failure_text(events)
    standin = databricks.standin
    assert [r.result for r in standin.runs.values()] == ["SUCCESS", "SUCCESS"]
    # Each step got a new job cluster in a Unity Catalog access mode, with pinned libraries.
    for task in _submitted_tasks(standin):
        assert task["new_cluster"]["data_security_mode"] == "SINGLE_USER"
        assert all("==" in library["pypi"]["package"] for library in task["libraries"])
    # The launcher shipped our packages, not the checkout: the cluster imported them from code.zip.
    code_zip = next(standin.dbfs_root.rglob("code.zip"))
    names = zipfile.ZipFile(code_zip).namelist()
    assert "mssql_lakehouse/lib/resources/databricks.py" in names
    assert not [n for n in names if ".venv" in n or "__pycache__" in n or n.startswith(".cache")]
    for databricks_run in standin.runs:
        origin = standin.driver_report(databricks_run)["module_origins"]["mssql_lakehouse"]
        assert not Path(origin).is_relative_to(project_root()), origin

    # The steps' own events came back from the cluster processes, checks included.
    driver_pids = {r.process.pid for r in standin.runs.values()}
    materializations = _of_type(events, dg.DagsterEventType.ASSET_MATERIALIZATION)
    assert {m.asset_key for m in materializations} == {HEADER, ORDERS}
    assert {m.pid for m in materializations} <= driver_pids
    checks = {
        e.event_specific_data.check_name: e.event_specific_data
        for e in _of_type(events, dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    }
    assert set(checks) == {"reconciles_with_source", "row_count_anomaly"}
    assert checks["reconciles_with_source"].passed
    assert {e.pid for e in _of_type(events, dg.DagsterEventType.ASSET_CHECK_EVALUATION)} <= driver_pids
    waiting = [
        e for e in _of_type(events, dg.DagsterEventType.ENGINE_EVENT) if "Waiting for Databricks run" in e.message
    ]
    assert len(waiting) == 2

    # The Delta table written on the cluster holds the day's orders.
    written = spark.read.format("delta").load(str(databricks.tables_root / "silver" / "sales_orders"))
    ids = sorted(r["sales_order_id"] for r in written.select("sales_order_id").collect())
    assert ids == _expected_order_ids(databricks.demo_dir, DAY)
    assert ids
    metadata = next(m for m in materializations if m.asset_key == ORDERS).event_specific_data.materialization.metadata
    assert metadata["dagster/uri"].value == str(databricks.tables_root / "silver" / "sales_orders")
    ordered_that_day = written.where(f"to_date(order_date) = DATE'{DAY.isoformat()}'").count()
    assert metadata["dagster/row_count"].value == ordered_that_day  # the rows of the partition (by order date)


def test_an_exception_in_the_remote_step_fails_the_run_with_its_type_message_and_remote_traceback(
    databricks, monkeypatch
):
    monkeypatch.setenv("DATABRICKS_CLUSTER_ID", KNOWN_CLUSTER)  # this time on an existing cluster
    run, events = databricks.run("standin_probes", [dg.AssetKey("failing_step")])

    assert not run.is_success
    assert _submitted_tasks(databricks.standin)[0]["existing_cluster_id"] == KNOWN_CLUSTER
    assert databricks.standin.runs[1].result == "SUCCESS"  # Dagster reported the failure; the cluster job itself ran
    remote = next(e for e in _errors(events) if e.cls_name == "RemoteStepFailure")
    assert "order 43659 has no customer (raised on 17.3 (stand-in))" in remote.message
    assert "in failing_step" in "".join(remote.stack)
    # The frame is the cluster's copy of the code, unzipped from code.zip, not the checkout here.
    (frame,) = [f for f in remote.stack if "remote_defs.py" in f]
    assert "mssql_lakehouse_tests/databricks/remote_defs.py" in frame
    assert str(project_root()) not in frame


def _everything_recorded(databricks, events: list[dg.EventLogEntry], run: dg.DagsterRun) -> str:
    """Event log, run record, stand-in request log (base64 payloads decoded) and every DBFS file."""
    parts = [databricks.traces(events), serialize_value(run), json.dumps(databricks.standin.requests)]
    for request in databricks.standin.requests:
        for field in ("data", "contents"):
            if field in request["body"]:
                parts.append(base64.b64decode(request["body"][field]).decode("latin-1"))
    for path in databricks.standin.dbfs_root.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            if path.name.endswith("events.pkl") and raw:
                raw = gzip.decompress(raw)
            if path.suffix == ".zip":
                archive = zipfile.ZipFile(path)
                raw = b"".join(archive.read(n) for n in archive.namelist())
            parts.append(raw.decode("latin-1"))
    return "\n".join(parts)


def test_secrets_reach_the_cluster_as_environment_variables_and_are_recorded_nowhere(databricks):
    run, events = databricks.run("standin_probes", [dg.AssetKey("secret_probe")])

    assert run.is_success, _failure_text(events)
    (materialization,) = _of_type(events, dg.DagsterEventType.ASSET_MATERIALIZATION)
    assert materialization.event_specific_data.materialization.metadata["mssql_password_present"].value is True
    report = databricks.standin.driver_report(1)
    assert report["env_sha256"]["MSSQL_PASSWORD"] == hashlib.sha256(SQL_SERVER_PASSWORD.encode()).hexdigest()
    # The secret scope was read by the cluster, under its own credential.
    assert {
        "method": "GET",
        "path": "/api/2.0/secrets/get",
        "query": {"scope": "lakehouse", "key": "mssql-password"},
        "body": {},
    } in databricks.standin.requests
    # The driver's stdout came back through DBFS: it names the variable and the scope, not the value.
    assert any(
        "Exporting MSSQL_PASSWORD from Databricks secret mssql-password, scope lakehouse" in e.user_message
        for e in events
    )
    recorded = _everything_recorded(databricks, events, run)
    assert SQL_SERVER_PASSWORD not in recorded
    assert databricks.token not in recorded
    assert "MSSQL_PASSWORD" in recorded  # the reference travels, the value does not


# What goes wrong before or around the step: the workspace's own account of it fails the step.
RUNS_THAT_DO_NOT_COMPLETE = {
    "never_starts": (
        {"DATABRICKS_WAIT_TIMEOUT_SECONDS": "3"},
        "secret_probe",
        "CANCELED",  # the launcher cancels the run it gave up on
        [
            "never started: still PENDING after 3s (DATABRICKS_WAIT_TIMEOUT_SECONDS)",
            "no instances of the requested node type are available",
        ],
    ),
    "fails_to_start": (
        {},
        "secret_probe",
        None,
        ["failed before the step ran (INTERNAL_ERROR)", "CLOUD_PROVIDER_LAUNCH_FAILURE"],
    ),
    "times_out": (
        {"DATABRICKS_RUN_TIMEOUT_SECONDS": "8"},
        "slow_step",
        "TIMEDOUT",
        ["timed out (DATABRICKS_RUN_TIMEOUT_SECONDS): Run timed out after 8 seconds."],
    ),
    # Only the product package is shipped; the job's code location (the tests' package) is not.
    "code_not_uploaded": (
        {"LAKEHOUSE_DATABRICKS_CODE_PACKAGES": "mssql_lakehouse"},
        "secret_probe",
        "FAILED",
        ["ended FAILED: Workload failed, see run output for details", "No module named 'mssql_lakehouse_tests'"],
    ),
}


@pytest.mark.parametrize("case", list(RUNS_THAT_DO_NOT_COMPLETE))
def test_a_run_that_does_not_complete_fails_the_step_with_what_the_workspace_reported(databricks, monkeypatch, case):
    env, asset, result, fragments = RUNS_THAT_DO_NOT_COMPLETE[case]
    if case in ("never_starts", "fails_to_start"):
        databricks.standin.cluster_behaviour = case
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    run, events = databricks.run("standin_probes", [dg.AssetKey(asset)])

    assert not run.is_success
    assert databricks.standin.runs[1].result == result
    text = _failure_text(events)
    assert "DatabricksStepError" in text
    for fragment in fragments:
        assert fragment in text
