"""The embedded demo ERP: SQL Server's source databases mirrored in DuckDB files.

One folder (``LakehouseSettings.from_env().paths.demo_erp_dir``) holds ``erp.duckdb`` (sales, products,
planning, the CRM customer and finance, with CDC and Change Tracking laid out as SQL
Server lays them out) and one ``inventory_<region>.duckdb`` per region (a system-versioned
temporal table). :func:`seed` fills it, deterministically and day by day, so the whole
pipeline runs without SQL Server. Readers open the files read-only; only the seed and the
maintenance functions here write.

See :mod:`.schema` for the tables and the type mapping, :mod:`.cdc` for the CDC and Change
Tracking layout and how SQL Server's functions map onto it, :mod:`.generator` for what a
simulated day does.
"""

from mssql_lakehouse_demo.cdc import (
    cleanup_cdc,
    cleanup_change_tracking,
    decode_update_mask,
    format_lsn,
    increment_lsn,
)
from mssql_lakehouse_demo.db import DemoDatabaseBusy
from mssql_lakehouse_demo.generator import (
    SeedError,
    SeedResult,
    Volumes,
    content_hashes,
    demo_settings,
    seed,
    seeded_days,
    table_counts,
    update_gl_entry,
)
from mssql_lakehouse_demo.schema import (
    CDC_INSTANCES,
    CT_TABLES,
    DEFAULT_REGIONS,
    ERP_TABLES,
    INVENTORY_TABLES,
    erp_path,
    inventory_path,
    mssql_script,
)

__all__ = [
    "CDC_INSTANCES",
    "CT_TABLES",
    "DEFAULT_REGIONS",
    "ERP_TABLES",
    "INVENTORY_TABLES",
    "DemoDatabaseBusy",
    "SeedError",
    "SeedResult",
    "Volumes",
    "cleanup_cdc",
    "cleanup_change_tracking",
    "content_hashes",
    "decode_update_mask",
    "demo_settings",
    "erp_path",
    "format_lsn",
    "increment_lsn",
    "inventory_path",
    "mssql_script",
    "seed",
    "seeded_days",
    "table_counts",
    "update_gl_entry",
]
