"""A day's staged changes of the captured tables, in commit order, written to CDC, Change Tracking and the tables.

The customer and sales modules stage a day's changes (with their transaction) in temp tables made
by :func:`create_staging`; :func:`commit_order` gives every transaction its LSN and CT version and
:func:`apply_changes` writes the change rows and applies the changes, as SQL Server's capture job
and Change Tracking would see them.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from mssql_lakehouse_demo.cdc import MAX_SLOT, day_ordinal, full_update_mask, lsn, lsn_sql, update_mask_sql
from mssql_lakehouse_demo.generator.common import SeedError, column_list, one, run
from mssql_lakehouse_demo.schema import CDC_INSTANCES, CT_TABLES, Table, ct_log_table


def enable_change_capture(con: duckdb.DuckDBPyConnection, first_day: dt.date) -> None:
    """CDC and CT are enabled on the (then empty or pre-loaded) tables just before the first day."""
    enabled_at = dt.datetime.combine(first_day, dt.time()) - dt.timedelta(minutes=5)
    start_lsn = lsn(day_ordinal(first_day), 0, 1)
    for ci in CDC_INSTANCES:
        con.execute(
            "INSERT INTO cdc.change_tables "
            "VALUES (?, ?, ?, ?, ?, ?, 0, NULL, true, false, NULL, ?, 'PRIMARY', ?, false)",
            [
                ci.object_id,
                ci.name,
                ci.table.schema,
                ci.table.name,
                start_lsn,
                ci.source_object_id,
                f"PK_{ci.table.name}",
                enabled_at,
            ],
        )
        con.executemany(
            "INSERT INTO cdc.captured_columns VALUES (?, ?, ?, ?, ?, false)",
            [(ci.object_id, c.name, i, c.mssql_type, i) for i, c in enumerate(ci.table.columns, start=1)],
        )
    con.executemany("INSERT INTO ct.min_valid_versions VALUES (?, ?, 0)", [(t.schema, t.name) for t in CT_TABLES])


def create_staging(con: duckdb.DuckDBPyConnection, name: str, table: Table) -> None:
    """A temp table of one source table's changes of the day, with their transaction."""
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        SELECT CAST(NULL AS VARCHAR) AS tx_kind, CAST(NULL AS BIGINT) AS tx_key,
               CAST(NULL AS INTEGER) AS seq, CAST(NULL AS VARCHAR) AS op,
               CAST(NULL AS TIMESTAMP) AS tx_begin, CAST(NULL AS TIMESTAMP) AS tx_end, t.*
        FROM {table.qualified} AS t LIMIT 0
        """,
    )


def commit_order(con: duckdb.DuckDBPyConnection, D: str, dord: int) -> None:
    """Number the day's CDC transactions in commit order; give the Sales ones a CT version."""
    ct_base = one(con, "SELECT coalesce(max(version), 0) FROM ct.versions")
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE tx AS
        WITH changes AS (
            SELECT tx_kind, tx_key, tx_begin, tx_end, seq, true AS is_ct FROM stg_soh
            UNION ALL SELECT tx_kind, tx_key, tx_begin, tx_end, seq, true FROM stg_sod
            UNION ALL SELECT tx_kind, tx_key, tx_begin, tx_end, seq, false FROM stg_cust
        ), t AS (
            SELECT tx_kind, tx_key, min(tx_begin) AS begin_time, max(tx_end) AS end_time,
                   max(seq) AS n_changes, bool_or(is_ct) AS is_ct
            FROM changes GROUP BY tx_kind, tx_key
        ), n AS (
            SELECT *, row_number() OVER (ORDER BY end_time, tx_kind, tx_key) AS t FROM t
        )
        SELECT *,
               CASE WHEN is_ct
                    THEN {ct_base} + sum(is_ct::INTEGER) OVER (ORDER BY t ROWS UNBOUNDED PRECEDING) END AS ct_version
        FROM n
        """,
    )
    n_tx, max_changes, last_end = con.execute(
        f"SELECT count(*), max(n_changes), max(end_time) >= {D} + 1 FROM tx"
    ).fetchone()
    if max_changes is not None and max_changes + 2 > MAX_SLOT:
        raise SeedError(f"a transaction has {max_changes} changes; LSN slots hold at most {MAX_SLOT - 2}")
    if n_tx >= 1 << 24:
        raise SeedError(f"{n_tx} transactions in a day; RowVer leaves room for {1 << 24}")
    if last_end:
        raise SeedError("a transaction ended after midnight")
    run(
        con,
        f"""
        INSERT INTO cdc.lsn_time_mapping
        SELECT {lsn_sql(str(dord), "t", "n_changes + 2")}, begin_time, end_time,
               unhex(printf('0000%08X%08X', {dord}, t)), {lsn_sql(str(dord), "t", "1")}
        FROM tx ORDER BY t
        """,
    )
    run(con, "INSERT INTO ct.versions SELECT ct_version, end_time FROM tx WHERE is_ct ORDER BY ct_version")


def apply_changes(con: duckdb.DuckDBPyConnection, dord: int) -> None:
    """Write CDC and CT rows from the staged changes, then apply them to the tables."""
    for stg, ci in (("stg_cust", CDC_INSTANCES[0]), ("stg_soh", CDC_INSTANCES[1]), ("stg_sod", CDC_INSTANCES[2])):
        table = ci.table
        (pk,) = table.primary_key
        # RowVer: a database-wide counter in commit order; a delete's before-image keeps its own.
        replace = (
            f" REPLACE (CASE WHEN s.op = 'D' THEN s.RowVer"
            f" ELSE ({dord}::BIGINT << 40) | (tx.t << 16) | s.seq END AS RowVer)"
            if "RowVer" in table.column_names
            else ""
        )
        run(
            con,
            f"""
            CREATE OR REPLACE TEMP TABLE res AS
            SELECT s.*{replace}, tx.t, tx.ct_version,
                   {lsn_sql(str(dord), "tx.t", "tx.n_changes + 2")} AS start_lsn,
                   {lsn_sql(str(dord), "tx.t", "s.seq + 1")} AS seqval
            FROM {stg} s JOIN tx USING (tx_kind, tx_key)
            """,
        )
        staged, resolved = one(con, f"SELECT count(*) FROM {stg}"), one(con, "SELECT count(*) FROM res")
        if staged != resolved:
            raise SeedError(f"{table.qualified}: {staged} changes staged but {resolved} in commit order")
        n = len(table.columns)
        full = "unhex('" + full_update_mask(n).hex().upper() + "')"
        mask = update_mask_sql(table.column_names, "b", "r")
        run(
            con,
            f"""
            INSERT INTO {ci.change_table}
            SELECT start_lsn, NULL, seqval, CASE WHEN op = 'I' THEN 2 ELSE 1 END, {full}, {column_list(table)}, seq
            FROM res WHERE op IN ('I', 'D')
            UNION ALL
            SELECT r.start_lsn, NULL, r.seqval, 3, {mask}, {column_list(table, "b")}, r.seq
            FROM res r JOIN {table.qualified} b USING ("{pk}") WHERE r.op = 'U'
            UNION ALL
            SELECT r.start_lsn, NULL, r.seqval, 4, {mask}, {column_list(table, "r")}, r.seq
            FROM res r JOIN {table.qualified} b USING ("{pk}") WHERE r.op = 'U'
            """,
        )
        if table in CT_TABLES:
            log = ct_log_table(table)
            run(
                con,
                f"""
                INSERT INTO {log}
                SELECT r.ct_version,
                       CASE WHEN r.op = 'I' THEN r.ct_version ELSE i.created END,
                       r.op, r."{pk}"
                FROM res r
                LEFT JOIN (SELECT "{pk}", max(SYS_CHANGE_VERSION) AS created FROM {log}
                           WHERE SYS_CHANGE_OPERATION = 'I'
                             AND "{pk}" IN (SELECT "{pk}" FROM res WHERE op <> 'I')
                           GROUP BY "{pk}") i USING ("{pk}")
                """,
            )
        # Deletes first: a delete and a re-insert of the same key in one day must end with the row.
        run(
            con,
            f"DELETE FROM {table.qualified} AS b "
            f'USING (SELECT "{pk}" FROM res WHERE op = \'D\') d WHERE b."{pk}" = d."{pk}"',
        )
        sets = ", ".join(f'"{c}" = r."{c}"' for c in table.column_names if c != pk)
        run(
            con,
            f"UPDATE {table.qualified} AS b SET {sets} "
            f'FROM (SELECT * FROM res WHERE op = \'U\') r WHERE b."{pk}" = r."{pk}"',
        )
        run(con, f"INSERT INTO {table.qualified} SELECT {column_list(table)} FROM res WHERE op = 'I' ORDER BY \"{pk}\"")
        run(con, "DROP TABLE res")
