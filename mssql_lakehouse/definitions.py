"""The code location: each use case's definitions, merged, with the deployment's resources.

``build_defs(settings)`` builds it from a :class:`LakehouseSettings`; the tests call it with their
own. ``defs`` is the code location Dagster loads, built lazily from the environment.
"""

import dagster as dg

from mssql_lakehouse.defs.customer_360 import definitions as customer_360
from mssql_lakehouse.defs.dr import definitions as dr
from mssql_lakehouse.defs.finance import definitions as finance
from mssql_lakehouse.defs.inventory import definitions as inventory
from mssql_lakehouse.defs.maintenance import definitions as maintenance
from mssql_lakehouse.defs.run_alerts import definitions as run_alerts
from mssql_lakehouse.defs.sales import definitions as sales
from mssql_lakehouse.lib.resources.deployment import executor_for, resources_for
from mssql_lakehouse.settings import LakehouseSettings

SLICES = (sales, inventory, customer_360, finance, dr, run_alerts, maintenance)


def build_defs(settings: LakehouseSettings) -> dg.Definitions:
    return dg.Definitions.merge(
        *(part.build_defs(settings) for part in SLICES),
        dg.Definitions(resources=resources_for(), executor=executor_for()),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs(LakehouseSettings.from_env())
