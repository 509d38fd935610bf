"""The databricks deployment: the step launcher and where its tables live, built from the settings.

Building the launcher validates the settings and calls nothing: it talks to the
workspace only when a step runs. Then it uploads our code packages (only them,
not the project folder with its virtualenv), the pickled step and the step
entry point to DBFS, submits a one-time run and streams the step's Dagster
events back.

Secrets never travel as values. The workspace credentials are ``{"env": NAME}``
references resolved on the launching machine; the SQL Server credentials are
Databricks secret-scope references (``LAKEHOUSE_DATABRICKS_SECRETS``) that the
cluster turns into environment variables before the step starts. The cluster rebuilds the
definitions from its own environment, so the settings that shape partitions or what a step does
travel as plain variables: the fields the settings mark as forwarded (``LakehouseSettings.forwarded_env``).

On the cluster itself (the remote side of the launcher) the same definitions
are loaded again; there only :class:`DatabricksTables` is needed, so the
cluster needs neither the workspace host nor a token.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module, metadata
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_databricks import databricks_pyspark_step_launcher
from dagster_databricks.databricks import DatabricksError
from dagster_databricks.databricks_pyspark_step_launcher import DatabricksPySparkStepLauncher

from mssql_lakehouse.settings import (
    DatabricksWorkspaceSettings,
    LakehouseSettings,
    PathsSettings,
    SettingsError,
    project_root,
)

# The Databricks runtime ships Spark and Delta; installing its own pyspark breaks it. The UI is not needed.
PROVIDED_BY_RUNTIME = frozenset({"pyspark", "delta-spark", "dagster-webserver"})


class DatabricksStepError(Exception):
    """A Databricks run for a step did not complete; says what the workspace reported."""


@dataclass(frozen=True)
class DatabricksTables:
    """Where the databricks deployment's Delta tables live: Unity Catalog names or a storage path.

    ``LAKEHOUSE_CATALOG`` gives ``<catalog>.<layer>.<table>``; ``LAKEHOUSE_TABLES_ROOT`` gives
    path-based tables ``<root>/<layer>/<table>`` (an ``abfss://`` or ``s3://`` location, a
    ``/Volumes/...`` path). The settings make sure exactly one of them is set on both sides of the launcher.
    """

    catalog: str | None = None
    tables_root: str | None = None

    @classmethod
    def from_settings(cls, paths: PathsSettings) -> DatabricksTables:
        return cls(catalog=paths.catalog, tables_root=None if paths.catalog else paths.tables_root)


def cluster_libraries(extra: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Our runtime dependencies pinned to the versions installed here, plus ``extra`` requirements.

    The step's pickled state is read by the same Dagster on both sides, so the versions must
    match exactly; what the Databricks runtime provides (Spark, Delta) is not installed again.
    """
    libraries = []
    for requirement in _runtime_requirements():
        name = re.split(r"[\s;<>=!~\[]", requirement, maxsplit=1)[0]
        if _normalise(name) in PROVIDED_BY_RUNTIME:
            continue
        extras = re.search(r"\[[^\]]*\]", requirement.split(";")[0])
        package = f"{name}{extras.group(0) if extras else ''}=={metadata.version(name)}"
        libraries.append({"pypi": {"package": package}})
    return libraries + [{"pypi": {"package": spec}} for spec in extra]


def _runtime_requirements() -> list[str]:
    """The project's dependencies: from pyproject.toml in a checkout (an editable install's
    metadata goes stale when dependencies change), else from the installed package's metadata."""
    pyproject = project_root() / "pyproject.toml"
    if pyproject.exists():
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        if project.get("name") == "mssql_lakehouse":
            return list(project.get("dependencies", []))
    return [r for r in metadata.requires("mssql_lakehouse") or [] if "extra ==" not in r]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class DatabricksSettings:
    """What the step launcher needs: the workspace, the tables, and the plain variables the cluster gets."""

    tables: DatabricksTables
    workspace: DatabricksWorkspaceSettings
    forwarded_env: Mapping[str, str]

    @property
    def catalog(self) -> str | None:
        return self.tables.catalog

    @property
    def code_packages(self) -> tuple[str, ...]:
        return self.workspace.code_packages

    @classmethod
    def from_settings(cls, settings: LakehouseSettings) -> DatabricksSettings:
        """From settings of the databricks deployment (which ``LakehouseSettings.from_env`` validated)."""
        return cls(
            tables=DatabricksTables.from_settings(settings.paths),
            workspace=settings.databricks,
            forwarded_env=settings.forwarded_env,
        )

    def launcher_config(self) -> dict[str, Any]:
        """Config of ``databricks_pyspark_step_launcher``; the code package path is added per step."""
        workspace = self.workspace
        return {
            "run_config": {
                "run_name": "mssql_lakehouse step",
                "cluster": _cluster(workspace),
                "libraries": cluster_libraries(workspace.extra_libraries),
                "timeout_seconds": workspace.run_timeout_seconds,
            },
            # Credentials are {"env": NAME} references, resolved on the launching machine.
            "databricks_host": {"env": "DATABRICKS_HOST"},
            **_auth(workspace),
            "staging_prefix": workspace.staging_prefix,
            "secrets_to_env_variables": [
                {"name": s.env_name, "scope": s.scope, "key": s.key} for s in workspace.secrets
            ],
            "env_variables": {"LAKEHOUSE_DEPLOYMENT": "databricks", **self.forwarded_env},
            "max_completion_wait_time_seconds": workspace.wait_timeout_seconds,
            "poll_interval_sec": workspace.poll_interval_seconds,
            "verbose_logs": False,
        }


def _auth(workspace: DatabricksWorkspaceSettings) -> dict[str, Any]:
    if workspace.token:
        return {"databricks_token": {"env": workspace.token.env_var_name}}
    return {
        "oauth_credentials": {
            "client_id": {"env": "DATABRICKS_CLIENT_ID"},
            "client_secret": {"env": workspace.client_secret.env_var_name},
        }
    }


def _cluster(workspace: DatabricksWorkspaceSettings) -> dict[str, Any]:
    if workspace.cluster_id:
        return {"existing": workspace.cluster_id}
    new: dict[str, Any] = {
        "spark_version": workspace.spark_version,
        "nodes": {"node_types": {"node_type_id": workspace.node_type}},
        "size": {"num_workers": workspace.num_workers},
        "data_security_mode": workspace.data_security_mode,
    }
    if workspace.policy_id:
        new["policy_id"] = workspace.policy_id
    return {"new": new}


def copy_code_packages(packages: Sequence[str], destination: Path) -> None:
    """Copy the named importable packages (sources only) into ``destination``, ready to zip.

    The launcher zips a folder as it is; pointing it at the project folder would upload the
    virtualenv, the jar cache and the local tables along with the code.
    """
    for name in packages:
        source = Path(import_module(name).__file__ or "").parent
        if not (source / "__init__.py").exists():
            raise SettingsError({"LAKEHOUSE_DATABRICKS_CODE_PACKAGES": f"{name!r} is not a regular package"})
        shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


class LakehouseStepLauncher(DatabricksPySparkStepLauncher):
    """``DatabricksPySparkStepLauncher`` that says why a run did not complete.

    The library reports a failed run as its result state only; here the step fails with the
    life-cycle state, the workspace's message and, when the run died before Dagster could
    report from it (an import error, a crash at start), the error and trace of the run output.
    """

    def step_events_iterator(self, step_context, step_key: str, databricks_run_id: int) -> Iterator[dg.DagsterEvent]:
        try:
            yield from super().step_events_iterator(step_context, step_key, databricks_run_id)
        except DatabricksError as error:
            raise DatabricksStepError(self._explain(databricks_run_id, error)) from error

    def _explain(self, databricks_run_id: int, error: DatabricksError) -> str:
        jobs = self.databricks_runner.client.workspace_client.jobs
        try:
            run = jobs.get_run(databricks_run_id)
        except Exception:  # the workspace may be unreachable too; keep the launcher's own message
            return str(error)
        state = run.state
        life_cycle = state.life_cycle_state.value if state and state.life_cycle_state else "UNKNOWN"
        message = (state.state_message if state else "") or ""
        where = f" ({run.run_page_url})" if run.run_page_url else ""
        if life_cycle in ("PENDING", "QUEUED", "BLOCKED"):
            return (
                f"Databricks run {databricks_run_id}{where} never started: still {life_cycle} after"
                f" {self.databricks_runner.max_wait_time_sec}s (DATABRICKS_WAIT_TIMEOUT_SECONDS)."
                f" The cluster did not come up: {message or 'no message from the workspace'}"
            )
        if life_cycle == "INTERNAL_ERROR":
            return f"Databricks run {databricks_run_id}{where} failed before the step ran (INTERNAL_ERROR): {message}"
        result = state.result_state.value if state and state.result_state else None
        if result == "TIMEDOUT":
            return f"Databricks run {databricks_run_id}{where} timed out (DATABRICKS_RUN_TIMEOUT_SECONDS): {message}"
        if result is None:
            return f"Databricks run {databricks_run_id}{where} did not finish in time ({life_cycle}): {error}"
        explanation = f"Databricks run {databricks_run_id}{where} ended {result}: {message}"
        task_run_id = run.tasks[0].run_id if run.tasks else databricks_run_id
        try:
            output = jobs.get_run_output(task_run_id)
        except Exception:
            return explanation
        if output.error:
            explanation += f"\nError on the cluster: {output.error}"
        if output.error_trace:
            explanation += f"\n{output.error_trace}"
        return explanation


def databricks_step_launcher(settings: DatabricksSettings) -> dg.ResourceDefinition:
    """The step launcher resource: ships ``settings.code_packages`` and explains failed runs."""

    @dg.resource(
        config_schema=databricks_pyspark_step_launcher.config_schema,
        description="Runs each step on Databricks (dagster-databricks PySpark step launcher).",
    )
    def lakehouse_step_launcher(context: dg.InitResourceContext) -> Iterator[LakehouseStepLauncher]:
        with tempfile.TemporaryDirectory(prefix="lakehouse-code-") as package_dir:
            copy_code_packages(settings.code_packages, Path(package_dir))
            yield LakehouseStepLauncher(**{**context.resource_config, "local_pipeline_package_path": package_dir})

    return lakehouse_step_launcher.configured(settings.launcher_config())
