"""The deployment switch and the local paths, decided in one place.

Everything that differs between a laptop and Databricks is read here from the
environment, so that no other module looks at ``os.environ`` for it.
"""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


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


class Site(str, enum.Enum):
    """The two copies of the lakehouse: the primary and its disaster-recovery replica."""

    PRIMARY = "primary"
    SECONDARY = "secondary"

    @property
    def other(self) -> Site:
        return Site.SECONDARY if self is Site.PRIMARY else Site.PRIMARY


def active_site() -> Site:
    """Which site the pipelines write to (``LAKEHOUSE_ACTIVE_SITE``); failing over is setting it to ``secondary``."""
    raw = os.environ.get("LAKEHOUSE_ACTIVE_SITE", Site.PRIMARY.value).strip().lower()
    try:
        return Site(raw)
    except ValueError:
        allowed = ", ".join(s.value for s in Site)
        raise ValueError(f"LAKEHOUSE_ACTIVE_SITE={raw!r} is not one of: {allowed}") from None


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
        """Where the pipelines read and write: the active site's tables root (``LAKEHOUSE_ACTIVE_SITE``)."""
        return self.site_tables_root(active_site())

    @property
    def standby_tables_root(self) -> Path:
        """The other site's tables root: where the DR replica is kept."""
        return self.site_tables_root(active_site().other)

    def site_tables_root(self, site: Site) -> Path:
        """``LAKEHOUSE_TABLES_ROOT`` for the primary site, ``DR_LAKEHOUSE_ROOT`` for the secondary."""
        if site is Site.SECONDARY:
            return Path(os.environ.get("DR_LAKEHOUSE_ROOT", self.home / "dr" / "tables")).resolve()
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
    """The business day's time zone (``LAKEHOUSE_ERP_TIMEZONE``, an IANA name, default UTC).

    The ERP writes ``datetime2`` values and CDC commit times on this wall clock, so it is at
    once the zone of the daily and monthly partitions, of every source's time windows (see
    :class:`mssql_lakehouse.lib.sources.MssqlSource`), of the demo ERP's clock, and of the
    schedules. It is read here only, so no part can cut the day elsewhere.
    """
    name = os.environ.get("LAKEHOUSE_ERP_TIMEZONE", "UTC").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"LAKEHOUSE_ERP_TIMEZONE={name!r} is not an IANA time zone (e.g. America/New_York)") from None
    return name


def partitions_start_date() -> str:
    return os.environ.get("LAKEHOUSE_PARTITIONS_START", "2026-01-01")


def run_alerts_uri() -> str:
    """The Delta table where failed runs and failed checks are recorded for planners."""
    default = LocalPaths.from_env().tables_root / "ops" / "run_alerts"
    return os.environ.get("LAKEHOUSE_RUN_ALERTS_URI", str(default))


DEFAULT_DR_TABLES = (
    "bronze/inventory_snapshots",
    "bronze/inventory_rejected_files",
    "silver/inventory",
    "gold/inventory_position",
)
_DR_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*/[A-Za-z_][A-Za-z0-9_]*$")


def dr_tables() -> list[str]:
    """The tables the DR replica keeps, as ``layer/table`` (``LAKEHOUSE_DR_TABLES``, comma-separated)."""
    raw = os.environ.get("LAKEHOUSE_DR_TABLES") or ",".join(DEFAULT_DR_TABLES)
    tables = [t.strip() for t in raw.split(",") if t.strip()]
    bad = [t for t in tables if not _DR_TABLE.match(t)]
    if bad:
        # The names reach CLONE statements and file paths: plain identifiers only.
        raise ValueError(f"LAKEHOUSE_DR_TABLES entries must be layer/table identifiers, not {bad}")
    return list(dict.fromkeys(tables))


def dr_catalog() -> str | None:
    """On Databricks, the Unity Catalog catalog (in the DR region's storage) that receives the deep clones."""
    return os.environ.get("LAKEHOUSE_DR_CATALOG") or None


def dr_max_lag_minutes() -> float:
    """How far the replica may fall behind before the lag check warns (``LAKEHOUSE_DR_MAX_LAG_MINUTES``)."""
    return float(os.environ.get("LAKEHOUSE_DR_MAX_LAG_MINUTES", "120"))


@dataclass(frozen=True)
class LakehouseSettings:
    """Every setting of the code location, parsed and validated once (sections to come)."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LakehouseSettings:
        return cls()
