"""A workspace stand-in and the databricks deployment pointed at it, for runs through the real step launcher."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._serdes import serialize_value

from mssql_lakehouse_tests.databricks.workspace_standin import WorkspaceStandIn

SQL_SERVER_PASSWORD = "Pa55-" + secrets.token_hex(8)
REMOTE_DEFS = "mssql_lakehouse_tests.databricks.remote_defs"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class DatabricksDeployment:
    """The databricks deployment of a test: its stand-in workspace, tables and Dagster instance."""

    standin: WorkspaceStandIn
    tables_root: Path
    demo_dir: Path
    instance: dg.DagsterInstance
    token: str

    def run(
        self, job: str, assets: list[dg.AssetKey], partition: str | None = None
    ) -> tuple[dg.DagsterRun, list[dg.EventLogEntry]]:
        """Execute the job's ``assets`` as Dagster would in production (multiprocess, reconstructed)."""
        # As `dagster dev` loads the code location: a module pointer with the project as working directory.
        repository = ReconstructableRepository.for_module(REMOTE_DEFS, "lakehouse_defs", str(PROJECT_ROOT))
        tags = {"dagster/partition": partition} if partition else None
        with dg.execute_job(
            repository.get_reconstructable_job(job), instance=self.instance, asset_selection=assets, tags=tags
        ) as result:
            run_id = result.run_id
        return self.instance.get_run_by_id(run_id), list(self.instance.all_logs(run_id))

    def traces(self, events: list[dg.EventLogEntry]) -> str:
        """Everything the event log holds, as text (to look for what must not be there)."""
        return serialize_value(events)


@pytest.fixture
def databricks(tmp_path, monkeypatch) -> Iterator[DatabricksDeployment]:
    """LAKEHOUSE_DEPLOYMENT=databricks against a fresh stand-in whose clusters start (set
    ``standin.cluster_behaviour`` to change that); fails the test on any endpoint it does not know."""
    token = "dapi" + secrets.token_hex(16)
    scopes = {"lakehouse": {"mssql-password": SQL_SERVER_PASSWORD}}
    home, tables_root, demo_dir = tmp_path / "home", tmp_path / "tables", tmp_path / "demo_erp"
    for name in (
        "LAKEHOUSE_CATALOG",
        "MSSQL_SERVER",
        "MSSQL_PASSWORD",
        "DATABRICKS_CLUSTER_ID",
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_CLIENT_SECRET",
        "DATABRICKS_CONFIG_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    with WorkspaceStandIn(tmp_path / "workspace", token=token, secret_scopes=scopes) as standin:
        for name, value in {
            "LAKEHOUSE_DEPLOYMENT": "databricks",
            "LAKEHOUSE_HOME": str(home),
            "LAKEHOUSE_TABLES_ROOT": str(tables_root),
            "LAKEHOUSE_DEMO_ERP_DIR": str(demo_dir),
            "DATABRICKS_HOST": standin.url,
            "DATABRICKS_TOKEN": token,
            "LAKEHOUSE_DATABRICKS_SECRETS": "MSSQL_PASSWORD=lakehouse/mssql-password",
            # The demo ERP is a local file; a real deployment forwards MSSQL_SERVER and friends instead.
            "LAKEHOUSE_DATABRICKS_FORWARD_ENV": "LAKEHOUSE_DEMO_ERP_DIR",
            # The test code location travels with the product code.
            "LAKEHOUSE_DATABRICKS_CODE_PACKAGES": "mssql_lakehouse,mssql_lakehouse_tests",
            "DATABRICKS_POLL_INTERVAL_SECONDS": "0.5",
            "DATABRICKS_RUN_TIMEOUT_SECONDS": "300",
            "DATABRICKS_WAIT_TIMEOUT_SECONDS": "320",
        }.items():
            monkeypatch.setenv(name, value)
        (home / "dagster_home").mkdir(parents=True)
        with dg.DagsterInstance.local_temp(str(home / "dagster_home")) as instance:
            yield DatabricksDeployment(standin, tables_root, demo_dir, instance, token)
        standin.wait_until_finished()
        assert not standin.unknown_requests, (
            f"the launcher called endpoints the stand-in does not know: {standin.unknown_requests}"
        )
