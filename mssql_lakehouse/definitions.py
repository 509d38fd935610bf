"""The code location: each use case's definitions, merged, with the deployment's resources.

``build_defs(settings)`` builds it from a :class:`LakehouseSettings`; the tests call it with their
own. ``defs`` is the code location Dagster loads, built lazily from the environment.
"""

from collections.abc import Sequence

import dagster as dg

from mssql_lakehouse.defs.automation import automation_condition_sensor
from mssql_lakehouse.defs.customer_360 import definitions as customer_360
from mssql_lakehouse.defs.dr import definitions as dr
from mssql_lakehouse.defs.finance import definitions as finance
from mssql_lakehouse.defs.inventory import definitions as inventory
from mssql_lakehouse.defs.maintenance import definitions as maintenance
from mssql_lakehouse.defs.run_alerts import definitions as run_alerts
from mssql_lakehouse.defs.sales import definitions as sales
from mssql_lakehouse.lib.partitions import check_partition_settings
from mssql_lakehouse.lib.resources.deployment import executor_for, resources_for
from mssql_lakehouse.settings import LakehouseSettings

SLICES = {
    "sales": sales,
    "inventory": inventory,
    "customer_360": customer_360,
    "finance": finance,
    "dr": dr,
    "run_alerts": run_alerts,
    "maintenance": maintenance,
}


def build_defs(settings: LakehouseSettings, slices: Sequence[str] = tuple(SLICES)) -> dg.Definitions:
    """The code location of ``settings``, or of some of its ``slices`` (names of ``defs/<slice>/``), with
    the deployment's resources and executor.

    The partitions were built at import from the environment; settings that would cut the days
    elsewhere are refused (a process with another environment builds its own).
    """
    check_partition_settings(settings)
    parts = dg.Definitions.merge(*(SLICES[name].build_defs(settings) for name in slices))
    return dg.Definitions.merge(
        parts,
        dg.Definitions(
            sensors=[automation_condition_sensor(parts.assets)],
            resources=resources_for(settings),
            executor=executor_for(settings),
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs(LakehouseSettings.from_env())
