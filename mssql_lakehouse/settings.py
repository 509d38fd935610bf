"""The deployment switch and the local paths, decided in one place.

Everything that differs between a laptop and Databricks is read here from the
environment, so that no other module looks at ``os.environ`` for it.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path


class Deployment(str, enum.Enum):
    LOCAL = "local"
    DATABRICKS = "databricks"


def current_deployment() -> Deployment:
    raw = os.environ.get("LAKEHOUSE_DEPLOYMENT", Deployment.LOCAL.value).strip().lower()
    try:
        return Deployment(raw)
    except ValueError:
        allowed = ", ".join(d.value for d in Deployment)
        raise ValueError(f"LAKEHOUSE_DEPLOYMENT={raw!r} is not one of: {allowed}") from None


def running_on_databricks() -> bool:
    """True inside a Databricks cluster (the remote side of the step launcher)."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


@dataclass(frozen=True)
class LocalPaths:
    """Where the embedded default keeps its state; all under ``LAKEHOUSE_HOME``."""

    home: Path

    @classmethod
    def from_env(cls) -> LocalPaths:
        return cls(home=Path(os.environ.get("LAKEHOUSE_HOME", ".lakehouse")).resolve())

    @property
    def tables_root(self) -> Path:
        return Path(os.environ.get("LAKEHOUSE_TABLES_ROOT", self.home / "tables")).resolve()

    @property
    def landing_root(self) -> Path:
        return self.home / "landing"

    @property
    def demo_erp_dir(self) -> Path:
        """Folder of the embedded demo databases: ``erp.duckdb`` and ``inventory_<region>.duckdb``."""
        return Path(os.environ.get("LAKEHOUSE_DEMO_ERP_DIR", self.home / "demo_erp")).resolve()


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def jar_cache_dir() -> Path:
    """Project-local cache of the JVM jars Spark needs (Delta, JDBC drivers)."""
    default = project_root() / ".cache" / "jars"
    return Path(os.environ.get("LAKEHOUSE_JAR_CACHE", default)).resolve()


def erp_timezone() -> str:
    """The ERP's wall-clock time zone: daily partitions and the nightly cut-off follow it."""
    return os.environ.get("LAKEHOUSE_ERP_TIMEZONE", "UTC")


def partitions_start_date() -> str:
    return os.environ.get("LAKEHOUSE_PARTITIONS_START", "2026-01-01")


def run_alerts_uri() -> str:
    """The Delta table where failed runs and failed checks are recorded for planners."""
    default = LocalPaths.from_env().tables_root / "ops" / "run_alerts"
    return os.environ.get("LAKEHOUSE_RUN_ALERTS_URI", str(default))
