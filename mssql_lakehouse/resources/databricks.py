"""The Databricks step launcher, configured entirely from the environment.

Building it validates the settings and calls nothing: the launcher talks to the
workspace only when a step runs. Secrets are passed to Dagster as
``{"env": NAME}`` references, never as values, and reach the cluster through
Databricks secret scopes (``LAKEHOUSE_DATABRICKS_SECRETS``), not plain config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import dagster as dg
from dagster_databricks import databricks_pyspark_step_launcher

from mssql_lakehouse.settings import project_root

# Installed on the cluster at the versions running here; Spark and Delta come with the runtime.
CLUSTER_PYPI_PACKAGES = ("dagster", "dagster-databricks", "dagster-pyspark", "pyodbc", "duckdb", "click")

DEFAULT_SECRETS = "MSSQL_PASSWORD=lakehouse/mssql-password"


class DatabricksSettingsError(ValueError):
    """The databricks deployment is missing or has malformed settings."""


@dataclass(frozen=True)
class SecretToEnv:
    env_name: str
    scope: str
    key: str


def parse_secret_mappings(raw: str) -> list[SecretToEnv]:
    """Parse ``ENV=scope/key;ENV2=scope/key2`` into secret-to-environment mappings."""
    mappings = []
    for item in filter(None, (part.strip() for part in raw.replace(",", ";").split(";"))):
        env_name, sep, ref = item.partition("=")
        scope, slash, key = ref.partition("/")
        if not (sep and slash and env_name.strip() and scope.strip() and key.strip()):
            raise DatabricksSettingsError(
                f"LAKEHOUSE_DATABRICKS_SECRETS entry {item!r} is not of the form ENV_NAME=scope/key"
            )
        mappings.append(SecretToEnv(env_name.strip(), scope.strip(), key.strip()))
    return mappings


@dataclass(frozen=True)
class DatabricksSettings:
    catalog: str
    cluster: Mapping[str, Any]
    staging_prefix: str
    secrets: list[SecretToEnv]
    auth: Mapping[str, Any]
    timeout_seconds: int
    poll_interval_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DatabricksSettings:
        env = os.environ if env is None else env
        missing = [name for name in ("DATABRICKS_HOST", "LAKEHOUSE_CATALOG") if not env.get(name)]
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
        if missing:
            raise DatabricksSettingsError(
                "LAKEHOUSE_DEPLOYMENT=databricks needs these environment variables: " + ", ".join(missing)
            )
        if env.get("DATABRICKS_CLUSTER_ID"):
            cluster: dict[str, Any] = {"existing": env["DATABRICKS_CLUSTER_ID"]}
        else:
            cluster = {
                "new": {
                    "spark_version": env.get("DATABRICKS_SPARK_VERSION", "17.3.x-scala2.13"),
                    "nodes": {"node_types": {"node_type_id": env.get("DATABRICKS_NODE_TYPE", "Standard_D4ds_v5")}},
                    "size": {"num_workers": _int(env, "DATABRICKS_NUM_WORKERS", 2)},
                }
            }
        staging = env.get("DATABRICKS_STAGING_PREFIX", "/dagster_staging")
        if not staging.startswith("/"):
            raise DatabricksSettingsError(f"DATABRICKS_STAGING_PREFIX must be an absolute DBFS path, not {staging!r}")
        return cls(
            catalog=env["LAKEHOUSE_CATALOG"],
            cluster=cluster,
            staging_prefix=staging,
            secrets=parse_secret_mappings(env.get("LAKEHOUSE_DATABRICKS_SECRETS", DEFAULT_SECRETS)),
            auth=auth,
            timeout_seconds=_int(env, "DATABRICKS_RUN_TIMEOUT_SECONDS", 3600),
            poll_interval_seconds=float(env.get("DATABRICKS_POLL_INTERVAL_SECONDS", "10")),
        )

    def launcher_config(self) -> dict[str, Any]:
        return {
            "run_config": {
                "run_name": "mssql_lakehouse step",
                "cluster": dict(self.cluster),
                "libraries": [
                    {"pypi": {"package": f"{name}=={metadata.version(name)}"}} for name in CLUSTER_PYPI_PACKAGES
                ],
                "timeout_seconds": self.timeout_seconds,
            },
            "databricks_host": {"env": "DATABRICKS_HOST"},
            **self.auth,
            "local_pipeline_package_path": str(project_root()),
            "staging_prefix": self.staging_prefix,
            "secrets_to_env_variables": [
                {"name": s.env_name, "scope": s.scope, "key": s.key} for s in self.secrets
            ],
            "env_variables": {"LAKEHOUSE_DEPLOYMENT": "databricks", "LAKEHOUSE_CATALOG": self.catalog},
            "max_completion_wait_time_seconds": self.timeout_seconds,
            "poll_interval_sec": self.poll_interval_seconds,
            "verbose_logs": False,
        }


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise DatabricksSettingsError(f"{name} must be a whole number, not {raw!r}") from None


def databricks_step_launcher(settings: DatabricksSettings) -> dg.ResourceDefinition:
    return databricks_pyspark_step_launcher.configured(settings.launcher_config())
