"""The inventory use case's resource: where each region's exports land, and where stock-out risk starts.

Built from the settings' inventory section (``LAKEHOUSE_INVENTORY_*``, ``LAKEHOUSE_LANDING_ROOT_<REGION>``,
``LAKEHOUSE_AUTOLOADER_ROOT_<REGION>``); the regions themselves shape the partitions.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from mssql_lakehouse.settings import LakehouseSettings


class InventoryConfig(dg.ConfigurableResource):
    """Each region's landing root (one folder per day, ``<root>/<YYYY-MM-DD>/``) and the stock-out threshold."""

    landing_roots: dict[str, str] = Field(description="Region -> folder or URI holding its day folders of exports.")
    autoloader_roots: dict[str, str] = Field(description="Region -> Auto Loader's checkpoints and inferred schemas.")
    min_days_of_cover: float = Field(default=3.0, description="Where stock-out risk starts.")
    autoloader: bool = Field(default=False, description="Land with Auto Loader (on a Databricks cluster).")

    @classmethod
    def from_settings(cls, settings: LakehouseSettings) -> InventoryConfig:
        inventory = settings.inventory
        return cls(
            landing_roots=dict(inventory.landing_roots),
            autoloader_roots=dict(inventory.autoloader_roots),
            min_days_of_cover=inventory.min_days_of_cover,
            autoloader=settings.paths.on_databricks,
        )

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self.landing_roots)

    def landing_root(self, region: str) -> str:
        return self.landing_roots[region]

    def landing_dir(self, region: str, day: str) -> str:
        """Where the exports of one region and day land: ``<landing root>/<YYYY-MM-DD>``."""
        return f"{self.landing_root(region)}/{day}"

    def autoloader_state_dir(self, region: str) -> str:
        return self.autoloader_roots[region]
