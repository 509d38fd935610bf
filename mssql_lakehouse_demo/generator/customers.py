"""``dbo.Customer``: the customers before the first day, and each day's inserts, updates, deletes and re-inserts."""

from __future__ import annotations

import datetime as dt

import duckdb

from mssql_lakehouse_demo.generator.common import (
    Volumes,
    column_list,
    pick,
    run,
    sql_date,
    time_in_day,
    tx_end,
    uniform,
)
from mssql_lakehouse_demo.schema import CUSTOMER

_FIRST_NAMES = [
    "Ana",
    "Ben",
    "Chloe",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Aiko",
    "Bruno",
    "Carmen",
    "Dmitri",
]
_LAST_NAMES = [
    "Smith",
    "Garcia",
    "Müller",
    "Rossi",
    "Nguyen",
    "Kim",
    "Tanaka",
    "Silva",
    "Novak",
    "Dubois",
    "Jensen",
    "Kowalski",
    "O'Brien",
    "Haddad",
    "Patel",
    "Svensson",
    "Costa",
    "Yilmaz",
    "Ivanova",
    "Lee",
    "Martin",
    "Fischer",
    "Moreau",
    "Hansen",
    "Sato",
    "Lopez",
    "Wright",
    "Cohen",
    "Bauer",
    "Chen",
]
_CITIES = [
    ("Seattle", "US"),
    ("Toronto", "CA"),
    ("Austin", "US"),
    ("Mexico City", "MX"),
    ("São Paulo", "BR"),
    ("London", "GB"),
    ("Berlin", "DE"),
    ("Paris", "FR"),
    ("Madrid", "ES"),
    ("Milan", "IT"),
    ("Stockholm", "SE"),
    ("Warsaw", "PL"),
    ("Istanbul", "TR"),
    ("Dubai", "AE"),
    ("Mumbai", "IN"),
    ("Singapore", "SG"),
    ("Tokyo", "JP"),
    ("Seoul", "KR"),
    ("Sydney", "AU"),
    ("Auckland", "NZ"),
]
_EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example"]


def create_customers(con: duckdb.DuckDBPyConnection, first_day: dt.date, v: Volumes) -> None:
    """The customers who joined over the years before the first day."""
    d0 = sql_date(first_day)
    joined = (
        f"{d0}::TIMESTAMP - INTERVAL (1 + floor({uniform('c_age', 'c.i')} * 1500)::INTEGER) DAY"
        f" + to_microseconds(CAST(floor({uniform('c_tod', 'c.i')} * 86400000000) AS BIGINT))"
    )
    run(
        con,
        f"""
        INSERT INTO dbo.Customer
        SELECT {customer_columns_sql("c.i", joined)}
        FROM range(1, {v.customers + 1}) c(i)
        """,
    )


def customer_columns_sql(id_expr: str, modified_sql: str) -> str:
    """The columns of a generated customer from its id (the same id always gives the same person)."""
    first = pick(_FIRST_NAMES, uniform("c_first", id_expr))
    last = pick(_LAST_NAMES, uniform("c_last", id_expr))
    city = f"floor({uniform('c_city', id_expr)} * {len(_CITIES)})::INTEGER + 1"
    cities = "[" + ", ".join("'" + c.replace("'", "''") + "'" for c, _ in _CITIES) + "]"
    countries = "[" + ", ".join(f"'{cc}'" for _, cc in _CITIES) + "]"
    return f"""
        {id_expr}::INTEGER AS CustomerID,
        {first} AS FirstName,
        {last} AS LastName,
        CASE WHEN {uniform("c_email_null", id_expr)} < 0.1 THEN NULL
             ELSE lower(replace({first} || '.' || {last}, '''', '')) || {id_expr}::VARCHAR || '@'
                  || {pick(_EMAIL_DOMAINS, uniform("c_domain", id_expr))} END AS Email,
        CASE WHEN {uniform("c_city_null", id_expr)} < 0.05 THEN NULL ELSE list_element({cities}, {city}) END AS City,
        CASE WHEN {uniform("c_cc_null", id_expr)} < 0.03 THEN NULL
             ELSE list_element({countries}, {city}) END AS CountryRegion,
        CASE WHEN {uniform("c_credit_null", id_expr)} < 0.2 THEN NULL
             ELSE CAST((1 + floor({uniform("c_credit", id_expr)} * 40)) * 500 AS DECIMAL(19,4)) END AS CreditLimit,
        {modified_sql} AS ModifiedDate"""


def stage_customers(con: duckdb.DuckDBPyConnection, D: str, v: Volumes, seqs: dict[str, int]) -> None:
    nd, nr, nu = v.customer_deletes, v.customer_reinserts, v.customer_updates
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE cust_pick AS
        SELECT c.*,
               row_number() OVER (ORDER BY hash('c_pick', {D}, c.CustomerID), c.CustomerID) AS rk,
               {time_in_day(D, uniform("c_time", D, "c.CustomerID"), 1, 86_390)} AS t_begin,
               {uniform("c_dur", D, "c.CustomerID")} AS u_dur,
               {uniform("c_what", D, "c.CustomerID")} AS u_what,
               {uniform("c_new", D, "c.CustomerID")} AS u_new
        FROM dbo.Customer c
        """,
    )
    cols = column_list(CUSTOMER, "p")
    run(
        con,
        f"""
        INSERT INTO stg_cust BY NAME
        SELECT 'cust_del' AS tx_kind, p.CustomerID AS tx_key, 1 AS seq, 'D' AS op,
               p.t_begin AS tx_begin, {tx_end("p.t_begin", "p.u_dur")} AS tx_end, {cols}
        FROM cust_pick p WHERE p.rk <= {nd}
        UNION ALL
        SELECT 'cust_reins', p.CustomerID, 1, 'D', p.t_begin, {tx_end("p.t_begin", "p.u_dur")}, {cols}
        FROM cust_pick p WHERE p.rk > {nd} AND p.rk <= {nd + nr}
        UNION ALL
        SELECT 'cust_reins', p.CustomerID, 2, 'I', p.t_begin, {tx_end("p.t_begin", "p.u_dur")}, {cols}
        FROM cust_pick p WHERE p.rk > {nd} AND p.rk <= {nd + nr}
        """,
    )
    cities = "[" + ", ".join("'" + c.replace("'", "''") + "'" for c, _ in _CITIES) + "]"
    countries = "[" + ", ".join(f"'{cc}'" for _, cc in _CITIES) + "]"
    city_ix = f"(1 + floor(p.u_new * {len(_CITIES)})::INTEGER)"
    run(
        con,
        f"""
        INSERT INTO stg_cust BY NAME
        SELECT 'cust_upd' AS tx_kind, p.CustomerID AS tx_key, 1 AS seq, 'U' AS op,
               p.t_begin AS tx_begin, {tx_end("p.t_begin", "p.u_dur")} AS tx_end,
               p.CustomerID, p.FirstName, p.LastName,
               CASE WHEN p.u_what < 0.4
                    THEN lower(replace(p.FirstName || '.' || p.LastName, '''', ''))
                         || (floor(p.u_new * 1000))::INTEGER::VARCHAR
                         || '@' || {pick(_EMAIL_DOMAINS, uniform("c_new_domain", D, "p.CustomerID"))}
                    ELSE p.Email END AS Email,
               CASE WHEN p.u_what >= 0.4 AND p.u_what < 0.7 THEN list_element({cities}, {city_ix})
                    ELSE p.City END AS City,
               CASE WHEN p.u_what >= 0.4 AND p.u_what < 0.7 THEN list_element({countries}, {city_ix})
                    ELSE p.CountryRegion END AS CountryRegion,
               CASE WHEN p.u_what >= 0.7
                    THEN CASE WHEN p.u_new < 0.1 THEN NULL
                              ELSE CAST((1 + floor(p.u_new * 40)) * 500 AS DECIMAL(19,4)) END
                    ELSE p.CreditLimit END AS CreditLimit,
               p.t_begin AS ModifiedDate
        FROM cust_pick p WHERE p.rk > {nd + nr} AND p.rk <= {nd + nr + nu}
        """,
    )
    run(
        con,
        f"""
        INSERT INTO stg_cust BY NAME
        WITH n AS (
            SELECT i, {time_in_day(D, uniform("cn_time", D, "i"), 1, 86_390)} AS t_begin,
                   {uniform("cn_dur", D, "i")} AS u_dur
            FROM range({v.customer_inserts}) r(i)
        ), k AS (
            SELECT {seqs["CustomerID"]} + row_number() OVER (ORDER BY t_begin, i) AS new_id, t_begin, u_dur FROM n
        )
        SELECT 'cust_ins' AS tx_kind, k.new_id AS tx_key, 1 AS seq, 'I' AS op,
               k.t_begin AS tx_begin, {tx_end("k.t_begin", "k.u_dur")} AS tx_end,
               {customer_columns_sql("k.new_id", "k.t_begin")}
        FROM k
        """,
    )
    run(con, "DROP TABLE IF EXISTS temp.cust_pick")
