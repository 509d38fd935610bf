"""The inventory use case's configuration, read from the environment in one place.

``LAKEHOUSE_INVENTORY_REGIONS`` (comma-separated, default ``amer,emea,apac``) names the regions;
each region's exports land in ``LAKEHOUSE_LANDING_ROOT_<REGION>`` (a folder or a cloud URI, so
each region can have its own geo-redundant container), by default
``$LAKEHOUSE_HOME/landing/inventory/<region>`` locally and the Unity Catalog volume
``/Volumes/<LAKEHOUSE_CATALOG>/landing/inventory/<region>`` on Databricks; one folder per day,
``<root>/<YYYY-MM-DD>/``.
``LAKEHOUSE_INVENTORY_MIN_DAYS_OF_COVER`` (default 3) is where stock-out risk starts.
"""

from __future__ import annotations

import os

from mssql_lakehouse.lib.regions import DEFAULT_REGIONS, validate_region
from mssql_lakehouse.settings import Deployment, LocalPaths, current_deployment, running_on_databricks


def inventory_regions() -> tuple[str, ...]:
    raw = os.environ.get("LAKEHOUSE_INVENTORY_REGIONS")
    regions = [r.strip() for r in raw.split(",") if r.strip()] if raw else list(DEFAULT_REGIONS)
    if not regions or len(set(regions)) != len(regions):
        raise ValueError(f"LAKEHOUSE_INVENTORY_REGIONS must name regions without repeats, got {raw!r}")
    # Region names become partition keys, folder names and environment variable suffixes.
    return tuple(validate_region(r) for r in regions)


def landing_root(region: str) -> str:
    """The folder (or URI) holding a region's day folders of exports."""
    configured = os.environ.get(f"LAKEHOUSE_LANDING_ROOT_{validate_region(region).upper()}")
    if configured:
        return configured.rstrip("/")
    catalog = os.environ.get("LAKEHOUSE_CATALOG")
    if catalog and (running_on_databricks() or current_deployment() is Deployment.DATABRICKS):
        return f"/Volumes/{catalog}/landing/inventory/{region}"
    return str(LocalPaths.from_env().landing_root / "inventory" / region)


def landing_dir(region: str, day: str) -> str:
    """Where the exports of one region and day land: ``<landing root>/<YYYY-MM-DD>``."""
    return f"{landing_root(region)}/{day}"


def autoloader_state_dir(region: str) -> str:
    """Auto Loader's checkpoints and inferred schemas for a region (Databricks), next to its landing root.

    ``_``-prefixed, so neither Auto Loader nor the file-arrival sensor takes it for a day folder.
    """
    return os.environ.get(f"LAKEHOUSE_AUTOLOADER_ROOT_{region.upper()}", f"{landing_root(region)}/_autoloader")


def min_days_of_cover() -> float:
    return float(os.environ.get("LAKEHOUSE_INVENTORY_MIN_DAYS_OF_COVER", "3"))
