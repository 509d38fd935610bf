"""A region's ``Production.ProductInventory``: a system-versioned temporal table in its own database file."""

from __future__ import annotations

import datetime as dt

import duckdb

from mssql_lakehouse_demo.generator.common import (
    GENERATOR_VERSION,
    column_list,
    recorded_settings,
    row_uuid,
    run,
    sql_date,
    time_in_day,
    uniform,
)
from mssql_lakehouse_demo.schema import END_OF_TIME, INVENTORY_TABLES, inventory_ddl, validate_region

LOCATIONS_PER_REGION = 3


def region_alias(region: str) -> str:
    return f"inventory_{validate_region(region)}"


def seed_region_day(con: duckdb.DuckDBPyConnection, day: dt.date, region: str, index: int, first_day: dt.date) -> None:
    cat = region_alias(region)
    D = sql_date(day)
    r = f"'{region}'"
    if not recorded_settings(con, cat):
        run(con, f"USE {cat}")
        try:
            for stmt in inventory_ddl():
                run(con, stmt)
        finally:
            run(con, "USE erp")
        locations = [(index + 1) * 10 + j for j in range(LOCATIONS_PER_REGION)]
        settings = {
            "region": region,
            "locations": ",".join(map(str, locations)),
            "first_day": day.isoformat(),
            "generator_version": GENERATOR_VERSION,
        }
        con.executemany(f"INSERT INTO {cat}.demo.settings VALUES (?, ?)", sorted(settings.items()))
        loc_list = "[" + ", ".join(map(str, locations)) + "]"
        # The initial stock is in place at midnight of the region's first day.
        run(
            con,
            f"""
            INSERT INTO {cat}.Production.ProductInventory
            WITH s AS (
                SELECT p.ProductID, unnest({loc_list}) AS LocationID
                FROM Production.Product p
                WHERE p.SellStartDate <= {D} AND (p.SellEndDate IS NULL OR p.SellEndDate > {D})
            )
            SELECT ProductID, LocationID::SMALLINT,
                   chr(65 + floor({uniform("inv_shelf", r, "ProductID", "LocationID")} * 12)::INTEGER) AS Shelf,
                   floor({uniform("inv_bin", r, "ProductID", "LocationID")} * 50)::UTINYINT AS Bin,
                   floor({uniform("inv_qty", r, "ProductID", "LocationID")} * 500)::SMALLINT AS Quantity,
                   {row_uuid("Production.ProductInventory", r, "ProductID", "LocationID")} AS rowguid,
                   {D}::TIMESTAMP AS ModifiedDate, erp_utc({D}::TIMESTAMP) AS ValidFrom,
                   TIMESTAMP '{END_OF_TIME}' AS ValidTo
            FROM s
            WHERE {uniform("inv_stocked", r, "ProductID", "LocationID")} < 0.8
            ORDER BY ProductID, LocationID
            """,
        )
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE inv_chg AS
        SELECT i.ProductID, i.LocationID,
               {time_in_day(D, uniform("inv_t", r, D, "i.ProductID", "i.LocationID"), 1, 86_390)} AS t,
               greatest(0, least(32000, i.Quantity + CASE WHEN d = 0 THEN 1 ELSE d END))::SMALLINT AS q
        FROM (SELECT *, floor({uniform("inv_d", r, D, "ProductID", "LocationID")} * 120)::INTEGER - 50 AS d
              FROM {cat}.Production.ProductInventory) i
        WHERE {uniform("inv_chg", r, D, "i.ProductID", "i.LocationID")} < 0.25
        """,
    )
    inv_cols = column_list(INVENTORY_TABLES[0], "i").replace('i."ValidTo"', 'erp_utc(c.t) AS "ValidTo"')
    run(
        con,
        f"""
        INSERT INTO {cat}.Production.ProductInventoryHistory
        SELECT {inv_cols}
        FROM {cat}.Production.ProductInventory i JOIN inv_chg c USING (ProductID, LocationID)
        ORDER BY ProductID, LocationID
        """,
    )
    run(
        con,
        f"""
        UPDATE {cat}.Production.ProductInventory AS i
        SET Quantity = c.q, ModifiedDate = c.t, ValidFrom = erp_utc(c.t)
        FROM inv_chg c
        WHERE i.ProductID = c.ProductID AND i.LocationID = c.LocationID
        """,
    )
    run(con, f"INSERT INTO {cat}.demo.seeded_days VALUES ({D})")
    run(con, "DROP TABLE temp.inv_chg")
