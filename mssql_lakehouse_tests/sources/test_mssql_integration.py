"""The extraction modes against a real SQL Server (the ERP schema of sql/mssql/create_erp_schema.sql).

Set MSSQL_TEST_SERVER, MSSQL_TEST_USER, MSSQL_TEST_PASSWORD and MSSQL_TEST_DATABASE (and
optionally MSSQL_TEST_PORT, MSSQL_TEST_TRUST_SERVER_CERTIFICATE=true for a dev container).
Needs unixODBC + ODBC Driver 18 for the control queries.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import dagster as dg
import pytest

from mssql_lakehouse.lib.sources import (
    CDC_ORDER,
    CdcPositionExpiredError,
    ChangeTrackingVersionExpiredError,
    ExtractionMode,
    MssqlSource,
    TableSource,
    frame_figures,
)
from mssql_lakehouse.settings import LakehouseSettings

pytestmark = [
    pytest.mark.mssql,
    pytest.mark.skipif(
        not os.environ.get("MSSQL_TEST_SERVER"),
        reason="needs a real SQL Server: set MSSQL_TEST_SERVER, MSSQL_TEST_USER, MSSQL_TEST_PASSWORD, "
        "MSSQL_TEST_DATABASE",
    ),
]

LINES = TableSource(
    "Sales",
    "SalesOrderDetail",
    ExtractionMode.WATERMARK,
    key_columns=("SalesOrderDetailID",),
    watermark_column="ModifiedDate",
    split_column="SalesOrderDetailID",
    reconcile_columns=("UnitPrice",),
)


@pytest.fixture(scope="module")
def source() -> MssqlSource:
    # The MSSQL_TEST_* variables in place of MSSQL_*; the password stays a variable's name.
    env = {name: value for name, value in os.environ.items() if not name.startswith("MSSQL_")}
    test = {
        name.replace("MSSQL_TEST_", "MSSQL_", 1): value
        for name, value in os.environ.items()
        if name.startswith("MSSQL_TEST_")
    }
    settings = LakehouseSettings.from_env({**env, **test})
    return MssqlSource.from_settings(
        settings,
        engine="mssql",
        password=dg.EnvVar("MSSQL_TEST_PASSWORD"),
        target_rows_per_partition=1_000,
        max_partitions=3,
    )


def _exec(source: MssqlSource, *statements: str) -> None:
    with source.control() as session:
        cursor = session._connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()


def test_snapshot_matches_the_source_figures(spark, source):
    extraction = source.extract(
        spark,
        TableSource(
            "Sales", "SalesOrderDetail", key_columns=("SalesOrderDetailID",), split_column="SalesOrderDetailID"
        ),
    )
    assert frame_figures(extraction.df, ["SalesOrderDetailID"]).differences(extraction.source_figures) == []


def test_watermark_window_is_half_open(spark, source):
    _exec(
        source,
        "DELETE FROM Sales.SalesOrderDetail WHERE SalesOrderDetailID BETWEEN 900000001 AND 900000003",
        "INSERT INTO Sales.SalesOrderDetail (SalesOrderID, SalesOrderDetailID, ProductID, OrderQty, UnitPrice, "
        "ModifiedDate) VALUES (1, 900000001, 1, 1, 1.25, '2001-01-01T00:00:00'), "
        "(1, 900000002, 1, 1, 2.50, '2001-01-01T23:59:59.9999999'), (1, 900000003, 1, 1, 3.75, '2001-01-02T00:00:00')",
    )
    extraction = source.extract(spark, LINES, window=(dt.datetime(2001, 1, 1), dt.datetime(2001, 1, 2)))
    rows = {r["SalesOrderDetailID"]: r for r in extraction.df.collect()}
    assert set(rows) == {900000001, 900000002}
    assert rows[900000002]["ModifiedDate"] == dt.datetime(2001, 1, 1, 23, 59, 59, 999999)  # truncated
    assert rows[900000001]["UnitPrice"] == Decimal("1.2500")


def test_rowversion_as_bigint(spark, source):
    table = TableSource("Sales", "SalesOrderHeader", ExtractionMode.ROWVERSION, rowversion_column="RowVer")
    first = source.extract(spark, table, since=0)
    assert first.df.count() == first.source_row_count
    again = source.extract(spark, table, since=first.next_position)
    assert again.source_row_count == again.df.count()


def test_cdc_changes_in_commit_order(spark, source):
    table = TableSource("Sales", "SalesOrderHeader", ExtractionMode.CDC, split_column="SalesOrderID")
    health = source.cdc_health(table.cdc_capture_instance)
    extraction = source.extract(spark, table, from_lsn=health["min_lsn"])
    keys = [tuple(r) for r in extraction.df.select(*CDC_ORDER).orderBy(*CDC_ORDER).collect()]
    assert len(keys) == len(set(keys)) == extraction.source_row_count
    with pytest.raises(CdcPositionExpiredError, match="Sales_SalesOrderHeader"):
        source.extract(spark, table, from_lsn="0x00000001000000010001")


def test_change_tracking_net_changes(spark, source):
    table = TableSource("Sales", "SalesOrderHeader", ExtractionMode.CHANGE_TRACKING, key_columns=("SalesOrderID",))
    health = source.change_tracking_health(table)
    extraction = source.extract(spark, table, since=health["min_valid_version"])
    assert extraction.df.select("SalesOrderID").distinct().count() == extraction.source_row_count
    if health["min_valid_version"] > 0:
        with pytest.raises(ChangeTrackingVersionExpiredError, match=r"Sales.SalesOrderHeader"):
            source.extract(spark, table, since=health["min_valid_version"] - 1)


def test_type_fidelity_on_sql_server(spark, source):
    _exec(
        source,
        "DROP TABLE IF EXISTS dbo.lakehouse_type_showcase",
        "CREATE TABLE dbo.lakehouse_type_showcase (id int PRIMARY KEY, d2 datetime2(7), dto datetimeoffset(7), "
        "m money, sm smallmoney, u uniqueidentifier, rv rowversion, ti tinyint, b bit, nv nvarchar(max), d date)",
        "INSERT INTO dbo.lakehouse_type_showcase (id, d2, dto, m, sm, u, ti, b, nv, d) VALUES "
        "(1, '9999-12-31T23:59:59.9999999', '2024-06-30T23:30:00.1234567-07:00', 922337203685477.5807, "
        "214748.3647, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 255, NULL, "
        "REPLICATE(CAST(N'a😀' AS nvarchar(max)), 5000), "
        "'0001-01-01')",
    )
    row = source.extract(spark, TableSource("dbo", "lakehouse_type_showcase")).df.collect()[0]
    assert row["d2"] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
    assert row["dto_offset_minutes"] == -420
    assert row["m"] == Decimal("922337203685477.5807") and row["sm"] == Decimal("214748.3647")
    assert row["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert isinstance(row["rv"], int) and row["ti"] == 255 and row["b"] is None
    assert row["nv"] == "a😀" * 5000
    assert row["d"] == dt.date(1, 1, 1)
