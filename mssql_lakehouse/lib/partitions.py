"""Partition definitions, defined once and imported by every asset.

Dagster needs the partitions when the asset decorators run, so they are built at import from the
settings of the environment (:data:`PARTITION_SETTINGS`); :func:`check_partition_settings` makes
``build_defs`` refuse settings that would cut the days elsewhere.
"""

import dagster as dg

from mssql_lakehouse.settings import LakehouseSettings, SettingsError

PARTITION_SETTINGS = LakehouseSettings.from_env()

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=PARTITION_SETTINGS.business_day.partitions_start,
    timezone=PARTITION_SETTINGS.erp_timezone,
    end_offset=0,
)


def check_partition_settings(settings: LakehouseSettings) -> None:
    """Refuses settings whose partitions differ from those built at import (start a new process for them)."""
    built = PARTITION_SETTINGS
    differences = {
        name: f"is {given!r} but the partitions were built at import with {imported!r}"
        for name, given, imported in (
            ("LAKEHOUSE_ERP_TIMEZONE", settings.erp_timezone, built.erp_timezone),
            ("LAKEHOUSE_PARTITIONS_START", settings.business_day.partitions_start, built.business_day.partitions_start),
            ("LAKEHOUSE_INVENTORY_REGIONS", settings.inventory.regions, built.inventory.regions),
        )
        if given != imported
    }
    if differences:
        raise SettingsError(differences)
