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


class RangeOutsidePartitions(dg.Failure):
    """A run's partition range starts or ends at a key that is not a partition of the asset (not retried)."""

    def __init__(self, description: str):
        super().__init__(description, allow_retries=False)


def partition_window(context: dg.AssetExecutionContext) -> dg.TimeWindow:
    """The time window of the run's partitions, refused if the run's range reaches outside them.

    Dagster computes ``partition_time_window`` from the run's range tags as given, while an IO
    manager gets only the range's keys that exist: a range ending at a day that is not a partition
    yet (today, until its day is over) would have the asset read that day's rows and the write refuse
    them as rows of another partition.
    """
    partitions_def = context.assets_def.partitions_def
    keys = context.partition_key_range
    outside = [key for key in dict.fromkeys((keys.start, keys.end)) if not partitions_def.has_partition_key(key)]
    if outside:
        last = partitions_def.get_last_partition_key()
        not_partitions = "; ".join(f"{key} is not a partition" for key in outside)
        raise RangeOutsidePartitions(
            f"The run's partition range {keys.start}..{keys.end} reaches outside the partitions of"
            f" {context.asset_key.to_user_string()}: {not_partitions} (the last is {last})."
            " Nothing was read; launch the run for a range of existing partitions."
        )
    return context.partition_time_window
