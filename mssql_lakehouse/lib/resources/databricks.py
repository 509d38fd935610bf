"""The databricks deployment: the step launcher and where its tables live, configured from the environment.

Building the launcher validates the settings and calls nothing: it talks to the
workspace only when a step runs. Then it uploads our code packages (only them,
not the project folder with its virtualenv), the pickled step and the step
entry point to DBFS, submits a one-time run and streams the step's Dagster
events back.

Secrets never travel as values. The workspace credentials are ``{"env": NAME}``
references resolved on the launching machine; the SQL Server credentials are
Databricks secret-scope references (``LAKEHOUSE_DATABRICKS_SECRETS``) that the
cluster turns into environment variables before the step starts.

On the cluster itself (the remote side of the launcher) the same definitions
are loaded again; there only :class:`DatabricksTables` is needed, so the
cluster needs neither the workspace host nor a token.
"""

from __future__ import annotations

import os
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

from mssql_lakehouse.settings import project_root

DEFAULT_SECRETS = "MSSQL_PASSWORD=lakehouse/mssql-password"
DEFAULT_CODE_PACKAGES = "mssql_lakehouse"
# Both sides must build the same partitions and read the same source: these travel as plain
# environment variables when set. Anything secret goes through LAKEHOUSE_DATABRICKS_SECRETS.
FORWARDED_ENV = (
    "LAKEHOUSE_ERP_TIMEZONE",
    "LAKEHOUSE_PARTITIONS_START",
    "MSSQL_SERVER",
    "MSSQL_PORT",
    "MSSQL_DATABASE",
    "MSSQL_AUTH",
    "MSSQL_USER",
    "MSSQL_CLIENT_ID",
    "MSSQL_TENANT_ID",
    "MSSQL_ENCRYPT",
    "MSSQL_TRUST_SERVER_CERTIFICATE",
    # The cluster rebuilds the definitions from its own environment: settings that shape
    # partitions or what a step does must be the same on both sides.
    "LAKEHOUSE_INVENTORY_REGIONS",
    "LAKEHOUSE_INVENTORY_MIN_DAYS_OF_COVER",
    "LAKEHOUSE_CDC_FEED",
    "LAKEHOUSE_CDC_MAX_LAG_HOURS",
    "LAKEHOUSE_DEBEZIUM_SOURCE",
    "LAKEHOUSE_DEBEZIUM_PATH",
    "LAKEHOUSE_DEBEZIUM_STORAGE",
    "LAKEHOUSE_DEBEZIUM_TIME_PRECISION_MODE",
    "LAKEHOUSE_DEBEZIUM_DECIMAL_HANDLING_MODE",
    "LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS",
    "LAKEHOUSE_KAFKA_TOPIC",
    "LAKEHOUSE_ARCHIVE_ROOT",
    "LAKEHOUSE_AUDIT_RETENTION_DAYS",
    "LAKEHOUSE_FINANCE_GRANTS",
    "LAKEHOUSE_FINANCE_REVOKE_FROM",
    "LAKEHOUSE_DR_TABLES",
    "LAKEHOUSE_DR_CATALOG",
    "LAKEHOUSE_RUN_ALERTS_URI",
)
# Per-region settings, forwarded by prefix.
FORWARDED_ENV_PREFIXES = ("LAKEHOUSE_LANDING_ROOT_", "LAKEHOUSE_AUTOLOADER_ROOT_")
SECRET_LOOKING = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE|CONNECTION_STRING|(^|_)KEY($|_)")
# The Databricks runtime ships Spark and Delta; installing its own pyspark breaks it. The UI is not needed.
PROVIDED_BY_RUNTIME = frozenset({"pyspark", "delta-spark", "dagster-webserver"})


class DatabricksSettingsError(ValueError):
    """The databricks deployment is missing or has malformed settings."""


class DatabricksStepError(Exception):
    """A Databricks run for a step did not complete; says what the workspace reported."""


@dataclass(frozen=True)
class SecretToEnv:
    env_name: str
    scope: str
    key: str


def parse_secret_mappings(raw: str) -> list[SecretToEnv]:
    """Parse ``ENV=scope/key;ENV2=scope/key2`` into secret-to-environment mappings."""
    mappings = []
    for item in _items(raw):
        env_name, sep, ref = item.partition("=")
        scope, slash, key = ref.partition("/")
        if not (sep and slash and env_name.strip() and scope.strip() and key.strip()):
            raise DatabricksSettingsError(
                f"LAKEHOUSE_DATABRICKS_SECRETS entry {item!r} is not of the form ENV_NAME=scope/key"
            )
        mappings.append(SecretToEnv(env_name.strip(), scope.strip(), key.strip()))
    return mappings


def _items(raw: str) -> list[str]:
    return [part.strip() for part in raw.replace(",", ";").split(";") if part.strip()]


@dataclass(frozen=True)
class DatabricksTables:
    """Where the databricks deployment's Delta tables live: Unity Catalog names or a storage path.

    ``LAKEHOUSE_CATALOG`` gives ``<catalog>.<layer>.<table>``; ``LAKEHOUSE_TABLES_ROOT`` gives
    path-based tables ``<root>/<layer>/<table>`` (an ``abfss://`` or ``s3://`` location, a
    ``/Volumes/...`` path). Exactly one of them is set; both sides of the launcher read it.
    """

    catalog: str | None = None
    tables_root: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DatabricksTables:
        env = os.environ if env is None else env
        catalog, root = env.get("LAKEHOUSE_CATALOG", "").strip(), env.get("LAKEHOUSE_TABLES_ROOT", "").strip()
        if bool(catalog) == bool(root):
            raise DatabricksSettingsError(
                "LAKEHOUSE_DEPLOYMENT=databricks needs exactly one of LAKEHOUSE_CATALOG (Unity Catalog"
                " tables) or LAKEHOUSE_TABLES_ROOT (path-based tables)"
                + (", not both" if catalog else "")
            )
        return cls(catalog=catalog or None, tables_root=root or None)

    def env_variables(self) -> dict[str, str]:
        if self.catalog:
            return {"LAKEHOUSE_CATALOG": self.catalog}
        return {"LAKEHOUSE_TABLES_ROOT": str(self.tables_root)}


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
    tables: DatabricksTables
    cluster: Mapping[str, Any]
    staging_prefix: str
    secrets: list[SecretToEnv]
    forwarded_env: Mapping[str, str]
    auth: Mapping[str, Any]
    code_packages: tuple[str, ...]
    extra_libraries: tuple[str, ...]
    run_timeout_seconds: int
    wait_timeout_seconds: int
    poll_interval_seconds: float

    @property
    def catalog(self) -> str | None:
        return self.tables.catalog

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DatabricksSettings:
        env = os.environ if env is None else env
        missing = [] if env.get("DATABRICKS_HOST") else ["DATABRICKS_HOST"]
        if env.get("DATABRICKS_TOKEN"):
            auth: dict[str, Any] = {"databricks_token": {"env": "DATABRICKS_TOKEN"}}
        elif env.get("DATABRICKS_CLIENT_ID") and env.get("DATABRICKS_CLIENT_SECRET"):
            auth = {
                "oauth_credentials": {
                    "client_id": {"env": "DATABRICKS_CLIENT_ID"},
                    "client_secret": {"env": "DATABRICKS_CLIENT_SECRET"},
                }
            }
        else:
            auth = {}
            missing.append("DATABRICKS_TOKEN (or DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET)")
        if not (env.get("LAKEHOUSE_CATALOG", "").strip() or env.get("LAKEHOUSE_TABLES_ROOT", "").strip()):
            missing.append("LAKEHOUSE_CATALOG (or LAKEHOUSE_TABLES_ROOT)")
        if missing:
            raise DatabricksSettingsError(
                "LAKEHOUSE_DEPLOYMENT=databricks needs these environment variables: " + ", ".join(missing)
            )
        staging = env.get("DATABRICKS_STAGING_PREFIX", "/dagster_staging")
        if not staging.startswith("/"):
            raise DatabricksSettingsError(f"DATABRICKS_STAGING_PREFIX must be an absolute DBFS path, not {staging!r}")
        run_timeout = _int(env, "DATABRICKS_RUN_TIMEOUT_SECONDS", 3600)
        secrets = parse_secret_mappings(env.get("LAKEHOUSE_DATABRICKS_SECRETS", DEFAULT_SECRETS))
        return cls(
            tables=DatabricksTables.from_env(env),
            cluster=_cluster(env),
            staging_prefix=staging,
            secrets=secrets,
            forwarded_env=_forwarded_env(env, {s.env_name for s in secrets}),
            auth=auth,
            code_packages=tuple(_items(env.get("LAKEHOUSE_DATABRICKS_CODE_PACKAGES", DEFAULT_CODE_PACKAGES))),
            extra_libraries=tuple(_items(env.get("LAKEHOUSE_DATABRICKS_EXTRA_LIBRARIES", ""))),
            run_timeout_seconds=run_timeout,
            # The launcher gives up a little after Databricks would have timed the run out itself.
            wait_timeout_seconds=_int(env, "DATABRICKS_WAIT_TIMEOUT_SECONDS", run_timeout + 300),
            poll_interval_seconds=_float(env, "DATABRICKS_POLL_INTERVAL_SECONDS", 10.0),
        )

    def launcher_config(self) -> dict[str, Any]:
        """Config of ``databricks_pyspark_step_launcher``; the code package path is added per step."""
        return {
            "run_config": {
                "run_name": "mssql_lakehouse step",
                "cluster": dict(self.cluster),
                "libraries": cluster_libraries(self.extra_libraries),
                "timeout_seconds": self.run_timeout_seconds,
            },
            "databricks_host": {"env": "DATABRICKS_HOST"},
            **self.auth,
            "staging_prefix": self.staging_prefix,
            "secrets_to_env_variables": [
                {"name": s.env_name, "scope": s.scope, "key": s.key} for s in self.secrets
            ],
            "env_variables": {
                "LAKEHOUSE_DEPLOYMENT": "databricks",
                **self.tables.env_variables(),
                **self.forwarded_env,
            },
            "max_completion_wait_time_seconds": self.wait_timeout_seconds,
            "poll_interval_sec": self.poll_interval_seconds,
            "verbose_logs": False,
        }


def _cluster(env: Mapping[str, str]) -> dict[str, Any]:
    if env.get("DATABRICKS_CLUSTER_ID"):
        return {"existing": env["DATABRICKS_CLUSTER_ID"]}
    new: dict[str, Any] = {
        "spark_version": env.get("DATABRICKS_SPARK_VERSION", "17.3.x-scala2.13"),
        "nodes": {"node_types": {"node_type_id": env.get("DATABRICKS_NODE_TYPE", "Standard_D4ds_v5")}},
        "size": {"num_workers": _int(env, "DATABRICKS_NUM_WORKERS", 2)},
        # A job cluster reaches Unity Catalog only in a governed access mode.
        "data_security_mode": env.get("DATABRICKS_DATA_SECURITY_MODE", "SINGLE_USER"),
    }
    if env.get("DATABRICKS_POLICY_ID"):
        new["policy_id"] = env["DATABRICKS_POLICY_ID"]
    return {"new": new}


def _forwarded_env(env: Mapping[str, str], secret_names: set[str]) -> dict[str, str]:
    extra = _items(env.get("LAKEHOUSE_DATABRICKS_FORWARD_ENV", ""))
    refused = [n for n in extra if SECRET_LOOKING.search(n.upper()) or n in secret_names]
    if refused:
        raise DatabricksSettingsError(
            f"LAKEHOUSE_DATABRICKS_FORWARD_ENV would copy {', '.join(refused)} into plain run config;"
            " map secrets with LAKEHOUSE_DATABRICKS_SECRETS instead"
        )
    by_prefix = sorted(n for n in env if n.startswith(FORWARDED_ENV_PREFIXES))
    return {n: env[n] for n in (*FORWARDED_ENV, *by_prefix, *extra) if env.get(n) and n not in secret_names}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return _number(env, name, default, int, "a whole number")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, "a number of seconds")


def _number(env: Mapping[str, str], name: str, default, kind: type, what: str):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise DatabricksSettingsError(f"{name} must be {what}, not {raw!r}") from None


def copy_code_packages(packages: Sequence[str], destination: Path) -> None:
    """Copy the named importable packages (sources only) into ``destination``, ready to zip.

    The launcher zips a folder as it is; pointing it at the project folder would upload the
    virtualenv, the jar cache and the local tables along with the code.
    """
    for name in packages:
        source = Path(import_module(name).__file__ or "").parent
        if not (source / "__init__.py").exists():
            raise DatabricksSettingsError(f"LAKEHOUSE_DATABRICKS_CODE_PACKAGES: {name!r} is not a regular package")
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
            return (
                f"Databricks run {databricks_run_id}{where} timed out (DATABRICKS_RUN_TIMEOUT_SECONDS): {message}"
            )
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
