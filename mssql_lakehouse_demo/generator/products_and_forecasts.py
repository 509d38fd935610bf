"""``Production.Product`` and ``Planning.SkuForecast``: the catalogue, its evening price changes, and the forecasts
planned around each SKU's expected demand."""

from __future__ import annotations

import datetime as dt
import math

import duckdb

from mssql_lakehouse_demo.generator.common import (
    Volumes,
    cube,
    pick,
    row_uuid,
    run,
    sql_date,
    time_in_day,
    uniform,
)

FORECAST_HORIZON_DAYS = 6

_ADJECTIVES = ["Road", "Mountain", "Touring", "Trail", "Urban", "Sport", "Classic", "Pro", "Lite", "Aero"]
_NOUNS = [
    "Bike",
    "Frame",
    "Wheel",
    "Helmet",
    "Jersey",
    "Glove",
    "Pedal",
    "Saddle",
    "Chain",
    "Tire",
    "Bottle",
    "Lock",
    "Light",
    "Pump",
    "Rack",
    "Fork",
    "Brake",
    "Crank",
    "Shorts",
    "Socks",
]
_COLORS = ["Black", "Red", "Silver", "Blue", "Yellow", "White", "Multi", "Grey"]


def create_products(con: duckdb.DuckDBPyConnection, first_day: dt.date, v: Volumes) -> None:
    """The product catalogue, on sale from dates before the first day."""
    d0 = sql_date(first_day)
    run(
        con,
        f"""
        INSERT INTO Production.Product
        WITH p AS (
            SELECT i::INTEGER AS ProductID,
                   {d0}::TIMESTAMP - INTERVAL (365 + floor({uniform("p_start", "i")} * 3000)::INTEGER) DAY
                       AS SellStartDate,
                   round(3 + 2997 * {cube(uniform("p_price", "i"))}, 2) AS price
            FROM range(1, {v.products + 1}) r(i)
        )
        SELECT ProductID,
               {pick(_ADJECTIVES, uniform("p_adj", "ProductID"))}
                   || ' ' || {pick(_NOUNS, uniform("p_noun", "ProductID"))}
                   || ' ' || lpad(ProductID::VARCHAR, 5, '0') AS Name,
               printf('SKU-%05d', ProductID) AS ProductNumber,
               CASE WHEN {uniform("p_color_null", "ProductID")} < 0.2 THEN NULL
                    ELSE {pick(_COLORS, uniform("p_color", "ProductID"))} END AS Color,
               CAST(round(price * (0.55 + 0.15 * {uniform("p_cost", "ProductID")}), 2) AS DECIMAL(19,4))
                   AS StandardCost,
               CAST(price AS DECIMAL(19,4)) AS ListPrice,
               SellStartDate,
               CASE WHEN {uniform("p_end", "ProductID")} < 0.05
                    THEN SellStartDate + INTERVAL (30 + floor({uniform("p_end_days", "ProductID")} * 300)::INTEGER) DAY
               END AS SellEndDate,
               {row_uuid("Production.Product", "ProductID")} AS rowguid,
               SellStartDate + to_microseconds(CAST(floor({uniform("p_mod", "ProductID")} * 86400000000) AS BIGINT))
                   AS ModifiedDate
        FROM p
        """,
    )


def expected_line_qty() -> float:
    """E[OrderQty] for ``1 + floor(10 u^2)``: 1 + sum over k of P(10 u^2 >= k)."""
    return 1 + sum(1 - math.sqrt(k / 10) for k in range(1, 10))


def plan_forecasts(con: duckdb.DuckDBPyConnection, D: str, v: Volumes, n_pop: int, first: bool) -> None:
    """Revise a few open forecasts, then add the new horizon day (the whole horizon on day one)."""
    lines_per_day = (v.orders + v.late_orders) * 4.0
    mean_qty = expected_line_qty()
    h = FORECAST_HORIZON_DAYS
    plan_time = time_in_day(D, uniform("f_time", D, "ProductID"), 2 * 3600, 3 * 3600)
    run(
        con,
        f"""
        UPDATE Planning.SkuForecast AS f
        SET PlannedQty = CAST(
                round(f.PlannedQty * (0.8 + 0.4 * {uniform("f_rev_qty", D, "f.ProductID", "f.ForecastDate")}))
                AS INTEGER),
            ModifiedDate = {plan_time.replace("ProductID", "f.ProductID")}
        WHERE f.ForecastDate BETWEEN {D} + 1 AND {D} + {h - 1}
          AND {uniform("f_rev", D, "f.ProductID", "f.ForecastDate")} < 0.05
        """,
    )
    # Expected demand of the product of popularity rank r: lines a day x P(rank r) x mean qty,
    # with P(rank r) = sqrt((r+1)/N) - sqrt(r/N) for the rank floor(N u^2) the orders draw.
    run(
        con,
        f"""
        INSERT INTO Planning.SkuForecast
        WITH f AS (
            SELECT p.ProductID, ({D} + k::INTEGER) AS ForecastDate,
                   {lines_per_day} * (sqrt((p.rk + 1) / {n_pop}) - sqrt(p.rk / {n_pop})) * {mean_qty} AS mu
            FROM pop p, range({0 if first else h}, {h + 1}) r(k)
        ), n AS (
            SELECT f.*, {uniform("f_noise", "f.ProductID", "f.ForecastDate")} AS un,
                        {uniform("f_noise2", "f.ProductID", "f.ForecastDate")} AS un2
            FROM f
        )
        SELECT ProductID, ForecastDate,
               CAST(round(mu * CASE WHEN un < 0.04 THEN 0.5 WHEN un < 0.08 THEN 1.7 ELSE 0.85 + 0.3 * un2 END)
                    AS INTEGER),
               {plan_time}
        FROM n ORDER BY ProductID, ForecastDate
        """,
    )


def change_prices(con: duckdb.DuckDBPyConnection, D: str, v: Volumes) -> None:
    """A few price changes late in the evening, after the day's orders were priced."""
    run(
        con,
        f"""
        UPDATE Production.Product AS p
        SET ListPrice = CAST(round(p.ListPrice * c.f, 2) AS DECIMAL(19,4)),
            StandardCost = CAST(round(p.StandardCost * c.f, 2) AS DECIMAL(19,4)),
            ModifiedDate = c.t
        FROM (
            SELECT ProductID, 0.9 + 0.25 * {uniform("price_f", D, "ProductID")} AS f,
                   {time_in_day(D, uniform("price_t", D, "ProductID"), 23 * 3600, 86_390)} AS t
            FROM pop ORDER BY hash('price', {D}, ProductID), ProductID LIMIT {v.price_changes}
        ) c
        WHERE p.ProductID = c.ProductID
        """,
    )
