"""Disaster recovery: an incremental replica of the lakehouse's Delta tables at a standby site.

Locally (``local``) the replica is kept by copying Delta files between two tables
roots; on Databricks (``databricks``) by deep clones into the DR catalog.
``compare`` checks a replica against its source and measures lag; ``resource``
holds the configuration the asset and checks use.
"""

from mssql_lakehouse.lib.replication.local import (
    ReplicaDivergedError,
    ReplicationGapError,
    TableReplication,
    replicate_table,
)
from mssql_lakehouse.lib.replication.resource import DrReplication, dr_resources

__all__ = [
    "DrReplication",
    "ReplicaDivergedError",
    "ReplicationGapError",
    "TableReplication",
    "dr_resources",
    "replicate_table",
]
