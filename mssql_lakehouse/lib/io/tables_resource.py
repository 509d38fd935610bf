"""Direct access to the lakehouse's Delta tables, for code that reads beyond its IO-managed inputs.

Checks that compare a partition with the ones before it, replication and audit
read tables by asset key through this resource; it points where the IO manager
writes (the same tables root or catalog, set in one place by the deployment).
"""

from collections.abc import Sequence

import dagster as dg

from mssql_lakehouse.lib.io.delta_tables import DeltaLocation


class LakehouseTables(dg.ConfigurableResource):
    tables_root: str | None = None
    catalog: str | None = None

    def location(self, key: dg.AssetKey | Sequence[str]) -> DeltaLocation:
        path = key.path if isinstance(key, dg.AssetKey) else list(key)
        layer, table = path[-2], path[-1]
        return DeltaLocation.for_table(layer, table, tables_root=self.tables_root, catalog=self.catalog)
