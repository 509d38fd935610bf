"""The demo ERP's tables, declared once in SQL Server's terms and rendered for DuckDB and T-SQL.

The demo stands in for SQL Server databases: one DuckDB file per source database
(``erp.duckdb``, ``inventory_<region>.duckdb``), DuckDB schemas for SQL Server
schemas, and SQL Server's exact case for every schema, table and column name
(``"Sales"."SalesOrderHeader"."SalesOrderID"``). The same declarations render
``sql/mssql/create_erp_schema.sql`` for a real SQL Server, so the two cannot drift.

Type mapping, SQL Server type → demo (DuckDB) type:

=====================  ==================  ==================================================
SQL Server             DuckDB              note
=====================  ==================  ==================================================
int                    INTEGER
smallint               SMALLINT
tinyint                UTINYINT            0..255, unsigned like SQL Server's
bigint                 BIGINT
bit                    BOOLEAN
money                  DECIMAL(19,4)       money's range and 4 decimals
smallmoney             DECIMAL(10,4)
decimal(p,s)           DECIMAL(p,s)
nvarchar/nchar/varchar VARCHAR             lengths are not enforced by DuckDB
date                   DATE
datetime2(7)/datetime  TIMESTAMP           microseconds: DuckDB's TIMESTAMP has 6 fractional
                                           digits, a 7th digit is truncated (verified on
                                           duckdb 2.0.1); the demo writes microseconds only
datetimeoffset         TIMESTAMPTZ
uniqueidentifier       UUID
rowversion             BIGINT              the value SQL Server extraction gets after
                                           ``CAST(RowVer AS bigint)``; CDC change tables keep
                                           it BIGINT too (SQL Server stores binary(8) there)
binary(10) (an LSN)    BLOB                10 bytes, big-endian, compares bytewise like SQL
                                           Server's binary(10)
=====================  ==================  ==================================================

SQL Server's ``datetime2(7)`` end of time ``9999-12-31 23:59:59.9999999`` (the ``ValidTo``
of a current temporal row) is ``9999-12-31 23:59:59.999999`` in the demo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mssql_lakehouse.lib.regions import DEFAULT_REGIONS, validate_region

ERP_DATABASE = "erp"


def erp_path(demo_dir: Path) -> Path:
    return Path(demo_dir) / f"{ERP_DATABASE}.duckdb"


def inventory_database(region: str) -> str:
    """The source database name of one region's inventory (file stem and SQL Server database)."""
    return f"inventory_{validate_region(region)}"


def inventory_path(demo_dir: Path, region: str) -> Path:
    return Path(demo_dir) / f"{inventory_database(region)}.duckdb"


_SIMPLE_TYPES = {
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "UTINYINT",
    "bigint": "BIGINT",
    "bit": "BOOLEAN",
    "money": "DECIMAL(19,4)",
    "smallmoney": "DECIMAL(10,4)",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "datetimeoffset": "TIMESTAMPTZ",
    "uniqueidentifier": "UUID",
    "rowversion": "BIGINT",
}


def duckdb_type(mssql_type: str) -> str:
    """The demo's DuckDB type for a SQL Server column type (see the module docstring)."""
    t = mssql_type.strip().lower()
    if t in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[t]
    base, _, args = t.partition("(")
    if base in ("nvarchar", "nchar", "varchar", "char"):
        return "VARCHAR"
    if base in ("decimal", "numeric"):
        return "DECIMAL(" + args.replace(" ", "")
    if base in ("datetime2", "datetimeoffset"):
        return "TIMESTAMP" if base == "datetime2" else "TIMESTAMPTZ"
    if base in ("binary", "varbinary"):
        return "BLOB"
    raise ValueError(f"no demo type for SQL Server type {mssql_type!r}")


@dataclass(frozen=True)
class Column:
    name: str
    mssql_type: str
    nullable: bool = False
    mssql_default: str | None = None

    @property
    def duckdb_type(self) -> str:
        return duckdb_type(self.mssql_type)


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        """``"Schema"."Table"`` for DuckDB SQL."""
        return f'"{self.schema}"."{self.name}"'

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(name: str, mssql_type: str, nullable: bool = False, default: str | None = None) -> Column:
    return Column(name, mssql_type, nullable, default)


_ROWGUID = _c("rowguid", "uniqueidentifier", default="NEWID()")
_MODIFIED = _c("ModifiedDate", "datetime2(7)", default="SYSDATETIME()")

SALES_ORDER_HEADER = Table(
    "Sales",
    "SalesOrderHeader",
    (
        _c("SalesOrderID", "int"),
        _c("RevisionNumber", "tinyint", default="0"),
        _c("OrderDate", "date"),
        _c("DueDate", "date"),
        _c("ShipDate", "date", nullable=True),
        _c("Status", "tinyint", default="1"),
        _c("CustomerID", "int"),
        _c("SubTotal", "money", default="0"),
        _c("TaxAmt", "money", default="0"),
        _c("Freight", "money", default="0"),
        _ROWGUID,
        _MODIFIED,
        _c("RowVer", "rowversion"),
    ),
    ("SalesOrderID",),
)

SALES_ORDER_DETAIL = Table(
    "Sales",
    "SalesOrderDetail",
    (
        _c("SalesOrderID", "int"),
        _c("SalesOrderDetailID", "int"),
        # No foreign key to Product: the ERP lets bad data in, and the pipeline quarantines it.
        _c("ProductID", "int", nullable=True),
        _c("OrderQty", "smallint"),
        _c("UnitPrice", "money"),
        _c("UnitPriceDiscount", "money", default="0"),
        _ROWGUID,
        _MODIFIED,
        _c("RowVer", "rowversion"),
    ),
    ("SalesOrderDetailID",),
)

PRODUCT = Table(
    "Production",
    "Product",
    (
        _c("ProductID", "int"),
        _c("Name", "nvarchar(50)"),
        _c("ProductNumber", "nvarchar(25)"),
        _c("Color", "nvarchar(15)", nullable=True),
        _c("StandardCost", "money"),
        _c("ListPrice", "money"),
        _c("SellStartDate", "datetime2(7)"),
        _c("SellEndDate", "datetime2(7)", nullable=True),
        _ROWGUID,
        _MODIFIED,
    ),
    ("ProductID",),
)

SKU_FORECAST = Table(
    "Planning",
    "SkuForecast",
    (
        _c("ProductID", "int"),
        _c("ForecastDate", "date"),
        _c("PlannedQty", "int"),
        _MODIFIED,
    ),
    ("ProductID", "ForecastDate"),
)

CUSTOMER = Table(
    "dbo",
    "Customer",
    (
        _c("CustomerID", "int"),
        _c("FirstName", "nvarchar(50)"),
        _c("LastName", "nvarchar(50)"),
        _c("Email", "nvarchar(256)", nullable=True),
        _c("City", "nvarchar(50)", nullable=True),
        _c("CountryRegion", "nchar(2)", nullable=True),
        _c("CreditLimit", "money", nullable=True),
        _MODIFIED,
    ),
    ("CustomerID",),
)

GL_ACCOUNT = Table(
    "Finance",
    "GLAccount",
    (
        _c("AccountID", "int"),
        _c("AccountNumber", "nvarchar(20)"),
        _c("Name", "nvarchar(100)"),
        _c("AccountType", "nvarchar(20)"),
        _c("NormalBalance", "nchar(1)"),
        _MODIFIED,
    ),
    ("AccountID",),
)

GL_ENTRY = Table(
    "Finance",
    "GLEntry",
    (
        _c("EntryID", "bigint"),
        _c("JournalID", "int"),
        _c("AccountID", "int"),
        _c("PostingDate", "date"),
        _c("Debit", "money", default="0"),
        _c("Credit", "money", default="0"),
        _c("Description", "nvarchar(200)"),
        _MODIFIED,
    ),
    ("EntryID",),
)

_INVENTORY_COLUMNS = (
    _c("ProductID", "int"),
    _c("LocationID", "smallint"),
    _c("Shelf", "nvarchar(10)"),
    _c("Bin", "tinyint"),
    _c("Quantity", "smallint", default="0"),
    _ROWGUID,
    _MODIFIED,
    _c("ValidFrom", "datetime2(7)"),
    _c("ValidTo", "datetime2(7)"),
)

PRODUCT_INVENTORY = Table("Production", "ProductInventory", _INVENTORY_COLUMNS, ("ProductID", "LocationID"))
# SQL Server's history table of a temporal table has no primary key.
PRODUCT_INVENTORY_HISTORY = Table("Production", "ProductInventoryHistory", _INVENTORY_COLUMNS)

ERP_TABLES: tuple[Table, ...] = (
    SALES_ORDER_HEADER,
    SALES_ORDER_DETAIL,
    PRODUCT,
    SKU_FORECAST,
    CUSTOMER,
    GL_ACCOUNT,
    GL_ENTRY,
)
INVENTORY_TABLES: tuple[Table, ...] = (PRODUCT_INVENTORY, PRODUCT_INVENTORY_HISTORY)

# ValidTo of a current temporal row: SQL Server's 9999-12-31 23:59:59.9999999 at microseconds.
END_OF_TIME = "9999-12-31 23:59:59.999999"


@dataclass(frozen=True)
class CaptureInstance:
    """One CDC-enabled source table, named as ``sys.sp_cdc_enable_table`` names it by default."""

    table: Table
    object_id: int  # of the change table cdc.<name>_CT
    source_object_id: int

    @property
    def name(self) -> str:
        return f"{self.table.schema}_{self.table.name}"

    @property
    def change_table(self) -> str:
        return f'"cdc"."{self.name}_CT"'


CDC_INSTANCES: tuple[CaptureInstance, ...] = (
    CaptureInstance(CUSTOMER, object_id=1_205_579_333, source_object_id=901_578_250),
    CaptureInstance(SALES_ORDER_HEADER, object_id=1_253_579_504, source_object_id=581_577_110),
    CaptureInstance(SALES_ORDER_DETAIL, object_id=1_301_579_675, source_object_id=613_577_224),
)
CT_TABLES: tuple[Table, ...] = (SALES_ORDER_HEADER, SALES_ORDER_DETAIL)


def capture_instance(name: str) -> CaptureInstance:
    for ci in CDC_INSTANCES:
        if ci.name == name:
            return ci
    known = ", ".join(ci.name for ci in CDC_INSTANCES)
    raise ValueError(f"unknown capture instance {name!r}; the demo has: {known}")


def ct_table(qualified_name: str) -> Table:
    """A change-tracked table by ``Schema.Table`` (``[Sales].[SalesOrderDetail]`` also accepted)."""
    cleaned = qualified_name.replace("[", "").replace("]", "").replace('"', "")
    for t in CT_TABLES:
        if cleaned == f"{t.schema}.{t.name}":
            return t
    known = ", ".join(f"{t.schema}.{t.name}" for t in CT_TABLES)
    raise ValueError(f"{qualified_name!r} is not change-tracked in the demo; these are: {known}")


def ct_log_table(table: Table) -> str:
    return f'"ct"."{table.schema}_{table.name}"'


# ---------------------------------------------------------------------------------------------
# DuckDB DDL
# ---------------------------------------------------------------------------------------------


def _duckdb_create(table: Table, name: str | None = None) -> str:
    cols = [f'"{c.name}" {c.duckdb_type}' + ("" if c.nullable else " NOT NULL") for c in table.columns]
    if table.primary_key:
        cols.append("PRIMARY KEY (" + ", ".join(f'"{k}"' for k in table.primary_key) + ")")
    return f"CREATE TABLE {name or table.qualified} (\n    " + ",\n    ".join(cols) + "\n)"


def _cdc_change_table_ddl(ci: CaptureInstance) -> str:
    captured = [f'"{c.name}" {c.duckdb_type}' for c in ci.table.columns]
    cols = [
        '"__$start_lsn" BLOB NOT NULL',
        '"__$end_lsn" BLOB',
        '"__$seqval" BLOB NOT NULL',
        '"__$operation" INTEGER NOT NULL',
        '"__$update_mask" BLOB',
        *captured,
        '"__$command_id" INTEGER',
    ]
    return f"CREATE TABLE {ci.change_table} (\n    " + ",\n    ".join(cols) + "\n)"


def _ct_log_ddl(table: Table) -> str:
    pk = [f'"{k}" {table.column(k).duckdb_type} NOT NULL' for k in table.primary_key]
    cols = [
        '"SYS_CHANGE_VERSION" BIGINT NOT NULL',
        '"SYS_CHANGE_CREATION_VERSION" BIGINT',
        '"SYS_CHANGE_OPERATION" VARCHAR NOT NULL',
        *pk,
    ]
    return f"CREATE TABLE {ct_log_table(table)} (\n    " + ",\n    ".join(cols) + "\n)"


def _ct_changes_macro(table: Table) -> str:
    """A table macro emulating ``CHANGETABLE(CHANGES <table>, last_sync_version)``."""
    keys = ", ".join(f'"{k}"' for k in table.primary_key)
    return f"""CREATE MACRO "ct"."CHANGES_{table.schema}_{table.name}"(last_sync_version) AS TABLE
SELECT
    max("SYS_CHANGE_VERSION") AS "SYS_CHANGE_VERSION",
    arg_max("SYS_CHANGE_CREATION_VERSION", "SYS_CHANGE_VERSION") AS "SYS_CHANGE_CREATION_VERSION",
    CASE
        WHEN arg_max("SYS_CHANGE_OPERATION", "SYS_CHANGE_VERSION") = 'D' THEN 'D'
        WHEN arg_min("SYS_CHANGE_OPERATION", "SYS_CHANGE_VERSION") = 'I' THEN 'I'
        ELSE 'U'
    END AS "SYS_CHANGE_OPERATION",
    CAST(NULL AS BLOB) AS "SYS_CHANGE_COLUMNS",
    CAST(NULL AS BLOB) AS "SYS_CHANGE_CONTEXT",
    {keys}
FROM {ct_log_table(table)}
WHERE "SYS_CHANGE_VERSION" > last_sync_version
GROUP BY {keys}"""


def erp_ddl() -> list[str]:
    """Statements creating an empty demo ERP: source tables, CDC and CT objects, bookkeeping."""
    stmts = [f'CREATE SCHEMA "{s}"' for s in ("Sales", "Production", "Planning", "dbo", "Finance")]
    stmts += [_duckdb_create(t) for t in ERP_TABLES]
    stmts.append('CREATE SCHEMA "cdc"')
    stmts += [_cdc_change_table_ddl(ci) for ci in CDC_INSTANCES]
    stmts.append(
        """CREATE TABLE "cdc"."lsn_time_mapping" (
    "start_lsn" BLOB NOT NULL PRIMARY KEY,
    "tran_begin_time" TIMESTAMP,
    "tran_end_time" TIMESTAMP,
    "tran_id" BLOB,
    "tran_begin_lsn" BLOB
)"""
    )
    stmts.append(
        """CREATE TABLE "cdc"."change_tables" (
    "object_id" INTEGER NOT NULL PRIMARY KEY,
    "capture_instance" VARCHAR NOT NULL,
    "source_schema" VARCHAR NOT NULL,
    "source_table" VARCHAR NOT NULL,
    "start_lsn" BLOB,
    "source_object_id" INTEGER,
    "version" INTEGER,
    "end_lsn" BLOB,
    "supports_net_changes" BOOLEAN,
    "has_drop_pending" BOOLEAN,
    "role_name" VARCHAR,
    "index_name" VARCHAR,
    "filegroup_name" VARCHAR,
    "create_date" TIMESTAMP,
    "partition_switch" BOOLEAN
)"""
    )
    stmts.append(
        """CREATE TABLE "cdc"."captured_columns" (
    "object_id" INTEGER NOT NULL,
    "column_name" VARCHAR NOT NULL,
    "column_id" INTEGER NOT NULL,
    "column_type" VARCHAR NOT NULL,
    "column_ordinal" INTEGER NOT NULL,
    "is_computed" BOOLEAN NOT NULL,
    PRIMARY KEY ("object_id", "column_ordinal")
)"""
    )
    stmts.append('CREATE SCHEMA "ct"')
    stmts += [_ct_log_ddl(t) for t in CT_TABLES]
    stmts.append(
        'CREATE TABLE "ct"."versions" ("version" BIGINT NOT NULL PRIMARY KEY, "commit_time" TIMESTAMP NOT NULL)'
    )
    stmts.append(
        """CREATE TABLE "ct"."min_valid_versions" (
    "schema_name" VARCHAR NOT NULL,
    "table_name" VARCHAR NOT NULL,
    "min_valid_version" BIGINT NOT NULL,
    PRIMARY KEY ("schema_name", "table_name")
)"""
    )
    stmts += [_ct_changes_macro(t) for t in CT_TABLES]
    stmts += _bookkeeping_ddl()
    stmts.append('CREATE TABLE "demo"."sequences" ("name" VARCHAR NOT NULL PRIMARY KEY, "last_value" BIGINT NOT NULL)')
    return stmts


def inventory_ddl() -> list[str]:
    stmts = ['CREATE SCHEMA "Production"']
    stmts += [_duckdb_create(t) for t in INVENTORY_TABLES]
    stmts += _bookkeeping_ddl()
    return stmts


def _bookkeeping_ddl() -> list[str]:
    return [
        'CREATE SCHEMA "demo"',
        'CREATE TABLE "demo"."settings" ("name" VARCHAR NOT NULL PRIMARY KEY, "value" VARCHAR NOT NULL)',
        'CREATE TABLE "demo"."seeded_days" ("day" DATE NOT NULL PRIMARY KEY)',
    ]


# ---------------------------------------------------------------------------------------------
# T-SQL for a real SQL Server 2022
# ---------------------------------------------------------------------------------------------


def _tsql_quote(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def _tsql_column(c: Column) -> str:
    sql = f"{_tsql_quote(c.name)} {c.mssql_type}"
    if c.mssql_type == "rowversion":
        return sql + " NOT NULL"
    sql += " NULL" if c.nullable else " NOT NULL"
    if c.mssql_default is not None:
        sql += f" DEFAULT ({c.mssql_default})"
    return sql


def _tsql_create(table: Table, temporal: bool = False) -> str:
    obj = f"{_tsql_quote(table.schema)}.{_tsql_quote(table.name)}"
    lines = []
    for c in table.columns:
        if temporal and c.name == "ValidFrom":
            lines.append("[ValidFrom] datetime2(7) GENERATED ALWAYS AS ROW START NOT NULL")
        elif temporal and c.name == "ValidTo":
            lines.append("[ValidTo] datetime2(7) GENERATED ALWAYS AS ROW END NOT NULL")
        else:
            lines.append(_tsql_column(c))
    if temporal:
        lines.append("PERIOD FOR SYSTEM_TIME ([ValidFrom], [ValidTo])")
    if table.primary_key:
        pk = ", ".join(_tsql_quote(k) for k in table.primary_key)
        lines.append(f"CONSTRAINT {_tsql_quote('PK_' + table.name)} PRIMARY KEY ({pk})")
    body = ",\n        ".join(lines)
    with_clause = ""
    if temporal:
        history = f"{_tsql_quote(table.schema)}.{_tsql_quote(table.name + 'History')}"
        with_clause = f"\n    WITH (SYSTEM_VERSIONING = ON (HISTORY_TABLE = {history}))"
    return (
        f"IF OBJECT_ID(N'{table.schema}.{table.name}', N'U') IS NULL\n"
        f"    CREATE TABLE {obj} (\n        {body}\n    ){with_clause};"
    )


def _tsql_create_database(database: str, schemas: Sequence[str]) -> list[str]:
    db = _tsql_quote(database)
    out = [f"IF DB_ID(N'{database}') IS NULL\n    CREATE DATABASE {db};\nGO", f"USE {db};\nGO"]
    for s in schemas:
        out.append(f"IF SCHEMA_ID(N'{s}') IS NULL\n    EXEC (N'CREATE SCHEMA {_tsql_quote(s)}');\nGO")
    return out


def mssql_script(regions: Sequence[str] = DEFAULT_REGIONS) -> str:
    """The T-SQL script (for ``sqlcmd``) creating the same databases on SQL Server 2022.

    It is idempotent: every object is created only if missing, and CDC and Change
    Tracking are enabled only where they are not yet.
    """
    parts = [
        "-- Generated by `mssql-lakehouse demo mssql-ddl` from mssql_lakehouse_demo/schema.py;\n"
        "-- edit that module, not this file. Run with: sqlcmd -b -C -i create_erp_schema.sql\n"
        "-- CDC needs the SQL Server Agent (MSSQL_AGENT_ENABLED=true) for its capture and cleanup jobs.\n"
        "SET NOCOUNT ON;\nGO",
    ]
    parts += _tsql_create_database(ERP_DATABASE, ["Sales", "Production", "Planning", "Finance"])
    parts += [_tsql_create(t) + "\nGO" for t in ERP_TABLES]
    db = _tsql_quote(ERP_DATABASE)
    parts.append(
        "-- Change Tracking reads are consistent only under snapshot isolation.\n"
        f"ALTER DATABASE {db} SET ALLOW_SNAPSHOT_ISOLATION ON;\nGO"
    )
    parts.append(
        "IF NOT EXISTS (SELECT 1 FROM sys.change_tracking_databases WHERE database_id = DB_ID())\n"
        f"    ALTER DATABASE {db} SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 7 DAYS, AUTO_CLEANUP = ON);\nGO"
    )
    for t in CT_TABLES:
        obj = f"{_tsql_quote(t.schema)}.{_tsql_quote(t.name)}"
        parts.append(
            "IF NOT EXISTS (SELECT 1 FROM sys.change_tracking_tables "
            f"WHERE object_id = OBJECT_ID(N'{t.schema}.{t.name}'))\n"
            f"    ALTER TABLE {obj} ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = OFF);\nGO"
        )
    parts.append(
        "IF (SELECT is_cdc_enabled FROM sys.databases WHERE database_id = DB_ID()) = 0\n"
        "    EXEC sys.sp_cdc_enable_db;\nGO"
    )
    for ci in CDC_INSTANCES:
        parts.append(
            f"IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE capture_instance = N'{ci.name}')\n"
            "    EXEC sys.sp_cdc_enable_table\n"
            f"        @source_schema = N'{ci.table.schema}',\n"
            f"        @source_name = N'{ci.table.name}',\n"
            "        @role_name = NULL,\n"
            f"        @capture_instance = N'{ci.name}',\n"
            "        @supports_net_changes = 1;\nGO"
        )
    for region in regions:
        parts += _tsql_create_database(inventory_database(region), ["Production"])
        parts.append(
            "-- A system-versioned temporal table: SQL Server keeps the closed versions in the history table.\n"
            + _tsql_create(PRODUCT_INVENTORY, temporal=True)
            + "\nGO"
        )
    return "\n\n".join(parts) + "\n"
