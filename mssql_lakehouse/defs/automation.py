"""The sensor that evaluates the assets' automation conditions, declared in code.

Without it, Dagster's default automation sensor evaluates them, and it starts stopped: someone had
to switch it on in the UI. This one targets exactly the assets that have a condition (today
``gold/customer_360``), so an asset gains automation by declaring a condition, never by being
swept into the target, and it starts running.
"""

from collections.abc import Iterable

import dagster as dg


def automated_asset_keys(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetKey]:
    return sorted(
        {key for asset in assets for key, condition in asset.automation_conditions_by_key.items() if condition},
        key=str,
    )


def automation_condition_sensor(assets: Iterable[dg.AssetsDefinition]) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the automation conditions of ``assets`` (all the code location's). A condition
    requests a run only for a change it has not handled yet, so the sensor's first evaluation does
    not replay history."""
    return dg.AutomationConditionSensorDefinition(
        "automation_condition_sensor",
        target=dg.AssetSelection.assets(*automated_asset_keys(assets)),
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
