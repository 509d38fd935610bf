"""The demo's tables are SQL Server's, by name, order and type, and the T-SQL script matches them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from mssql_lakehouse.settings import project_root
from mssql_lakehouse_demo import CDC_INSTANCES, CT_TABLES, ERP_TABLES, INVENTORY_TABLES, inventory_path, mssql_script
from mssql_lakehouse_demo.schema import duckdb_type

from ._helpers import rows

SCRIPT = project_root() / "sql" / "mssql" / "create_erp_schema.sql"


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    return [
        (r["column_name"], r["data_type"])
        for r in rows(
            con,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, table],
        )
    ]


@pytest.mark.parametrize("table", ERP_TABLES, ids=lambda t: f"{t.schema}.{t.name}")
def test_erp_tables_keep_sql_servers_names_order_and_mapped_types(erp: duckdb.DuckDBPyConnection, table) -> None:
    assert _columns(erp, table.schema, table.name) == [(c.name, c.duckdb_type) for c in table.columns]


def test_inventory_tables_keep_sql_servers_names(demo_dir: Path) -> None:
    with duckdb.connect(str(inventory_path(demo_dir, "amer")), read_only=True) as con:
        for table in INVENTORY_TABLES:
            assert _columns(con, table.schema, table.name) == [(c.name, c.duckdb_type) for c in table.columns]


@pytest.mark.parametrize("ci", CDC_INSTANCES, ids=lambda ci: ci.name)
def test_cdc_change_tables_have_sql_servers_columns(erp: duckdb.DuckDBPyConnection, ci) -> None:
    cols = _columns(erp, "cdc", f"{ci.name}_CT")
    assert cols[:5] == [
        ("__$start_lsn", "BLOB"),
        ("__$end_lsn", "BLOB"),
        ("__$seqval", "BLOB"),
        ("__$operation", "INTEGER"),
        ("__$update_mask", "BLOB"),
    ]
    assert cols[5:-1] == [(c.name, c.duckdb_type) for c in ci.table.columns]
    assert cols[-1] == ("__$command_id", "INTEGER")


@pytest.mark.parametrize(
    ("mssql", "demo"),
    [
        ("int", "INTEGER"),
        ("smallint", "SMALLINT"),
        ("tinyint", "UTINYINT"),
        ("bigint", "BIGINT"),
        ("bit", "BOOLEAN"),
        ("money", "DECIMAL(19,4)"),
        ("smallmoney", "DECIMAL(10,4)"),
        ("decimal(9, 3)", "DECIMAL(9,3)"),
        ("nvarchar(50)", "VARCHAR"),
        ("nchar(2)", "VARCHAR"),
        ("date", "DATE"),
        ("datetime2(7)", "TIMESTAMP"),
        ("datetime", "TIMESTAMP"),
        ("datetimeoffset", "TIMESTAMPTZ"),
        ("uniqueidentifier", "UUID"),
        ("rowversion", "BIGINT"),
        ("binary(10)", "BLOB"),
    ],
)
def test_type_mapping(mssql: str, demo: str) -> None:
    assert duckdb_type(mssql) == demo


def test_timestamps_keep_microseconds_and_drop_the_seventh_digit() -> None:
    with duckdb.connect() as con:
        value = con.execute("SELECT TIMESTAMP '2024-03-01 12:00:00.1234567'").fetchone()[0]
    assert value.microsecond == 123456


def test_the_committed_tsql_script_is_generated_from_the_same_declarations() -> None:
    assert SCRIPT.read_text() == mssql_script(), (
        "sql/mssql/create_erp_schema.sql is stale: regenerate it with "
        "`mssql-lakehouse demo mssql-ddl > sql/mssql/create_erp_schema.sql`"
    )


def test_the_tsql_script_enables_cdc_change_tracking_and_system_versioning() -> None:
    script = mssql_script()
    for ci in CDC_INSTANCES:
        assert f"@capture_instance = N'{ci.name}'" in script
    for t in CT_TABLES:
        assert f"ALTER TABLE [{t.schema}].[{t.name}] ENABLE CHANGE_TRACKING" in script
    assert script.count("SYSTEM_VERSIONING = ON (HISTORY_TABLE = [Production].[ProductInventoryHistory])") == 3
    assert "[RowVer] rowversion NOT NULL" in script


def test_compose_runs_sql_server_2022_with_the_agent_and_no_committed_password() -> None:
    compose = yaml.safe_load((project_root() / "docker-compose.yml").read_text())
    server = compose["services"]["mssql"]
    assert "2022" in server["image"]
    assert server["environment"]["MSSQL_AGENT_ENABLED"] == "true"
    assert server["environment"]["MSSQL_SA_PASSWORD"].startswith("${MSSQL_SA_PASSWORD")
    init = compose["services"]["mssql-init"]
    assert "./sql/mssql:/sql:ro" in init["volumes"]
    assert "create_erp_schema.sql" in " ".join(init["entrypoint"])
