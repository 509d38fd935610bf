"""The Change Tracking emulation agrees with the data and behaves like CHANGETABLE."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from mssql_lakehouse_demo import CT_TABLES, cleanup_change_tracking, erp_path, seed

from ._helpers import SCALE, SEEDED_DAYS, START, rows, scalar

CURRENT_VERSION = "SELECT coalesce(max(version), 0) FROM ct.versions"


def _log(table) -> str:
    return f'"ct"."{table.schema}_{table.name}"'


def test_versions_count_committed_sales_transactions(erp: duckdb.DuckDBPyConnection) -> None:
    versions = rows(erp, "SELECT * FROM ct.versions ORDER BY version")
    assert [v["version"] for v in versions] == list(range(1, len(versions) + 1))
    times = [v["commit_time"] for v in versions]
    assert times == sorted(times)
    # One version per transaction that touched a tracked table: the Sales CDC transactions.
    sales_transactions = scalar(
        erp,
        'SELECT count(DISTINCT lsn) FROM (SELECT "__$start_lsn" AS lsn FROM cdc."Sales_SalesOrderHeader_CT" '
        'UNION ALL SELECT "__$start_lsn" FROM cdc."Sales_SalesOrderDetail_CT")',
    )
    assert len(versions) == sales_transactions


@pytest.mark.parametrize("table", CT_TABLES, ids=lambda t: t.name)
def test_the_log_agrees_with_the_table(erp: duckdb.DuckDBPyConnection, table) -> None:
    (pk,) = table.primary_key
    last = rows(
        erp,
        f"""SELECT "{pk}" AS k, arg_max(SYS_CHANGE_OPERATION, SYS_CHANGE_VERSION) AS op
            FROM {_log(table)} GROUP BY 1""",
    )
    present = {r[0] for r in erp.execute(f'SELECT "{pk}" FROM {table.qualified}').fetchall()}
    deleted = {r["k"] for r in last if r["op"] == "D"}
    alive = {r["k"] for r in last if r["op"] != "D"}
    assert deleted and not (deleted & present)
    assert alive == present  # tracked from the start, so every row has a log entry
    assert scalar(erp, f"SELECT count(*) FROM {_log(table)} ANTI JOIN ct.versions ON version = SYS_CHANGE_VERSION") == 0


@pytest.mark.parametrize("table", CT_TABLES, ids=lambda t: t.name)
def test_changetable_changes_returns_the_net_change_since_a_version(erp: duckdb.DuckDBPyConnection, table) -> None:
    (pk,) = table.primary_key
    since = dt.datetime.combine(SEEDED_DAYS[3], dt.time())
    v = scalar(erp, "SELECT max(version) FROM ct.versions WHERE commit_time < ?", [since])
    changes = rows(erp, f'SELECT * FROM ct."CHANGES_{table.schema}_{table.name}"(?)', [v])
    assert list(changes[0])[:5] == [
        "SYS_CHANGE_VERSION",
        "SYS_CHANGE_CREATION_VERSION",
        "SYS_CHANGE_OPERATION",
        "SYS_CHANGE_COLUMNS",
        "SYS_CHANGE_CONTEXT",
    ]
    by_key = {c[pk]: c for c in changes}
    assert len(by_key) == len(changes)  # one row per key
    present = {r[0] for r in erp.execute(f'SELECT "{pk}" FROM {table.qualified}').fetchall()}
    modified_since = {
        r[0] for r in erp.execute(f'SELECT "{pk}" FROM {table.qualified} WHERE ModifiedDate >= ?', [since]).fetchall()
    }
    assert modified_since <= set(by_key)  # nothing changed after v is missed
    for key, c in by_key.items():
        assert c["SYS_CHANGE_VERSION"] > v
        if c["SYS_CHANGE_OPERATION"] == "D":
            assert key not in present
        else:
            assert key in present
            assert (c["SYS_CHANGE_OPERATION"] == "I") == (c["SYS_CHANGE_CREATION_VERSION"] > v)
    assert {c["SYS_CHANGE_OPERATION"] for c in changes} == {"I", "U", "D"} or table.name == "SalesOrderDetail"


def test_cleanup_raises_the_minimum_valid_version(tmp_path: Path) -> None:
    seed(tmp_path, START, 3, SCALE)
    day2 = dt.datetime.combine(START + dt.timedelta(days=1), dt.time())
    with duckdb.connect(str(erp_path(tmp_path)), read_only=True) as con:
        current = scalar(con, CURRENT_VERSION)
        last_of_day1 = scalar(con, "SELECT max(version) FROM ct.versions WHERE commit_time < ?", [day2])

    new_min = cleanup_change_tracking(tmp_path, "Sales.SalesOrderDetail", day2)

    assert new_min == last_of_day1
    with duckdb.connect(str(erp_path(tmp_path)), read_only=True) as con:
        assert scalar(con, CURRENT_VERSION) == current
        mins = {r["table_name"]: r["min_valid_version"] for r in rows(con, "SELECT * FROM ct.min_valid_versions")}
        assert mins == {"SalesOrderDetail": new_min, "SalesOrderHeader": 0}
        assert scalar(con, 'SELECT min(SYS_CHANGE_VERSION) FROM ct."Sales_SalesOrderDetail"') > new_min
        # A client synchronised to a version below the minimum must re-initialise.
        assert new_min > 1
    assert cleanup_change_tracking(tmp_path, "[Sales].[SalesOrderDetail]", day2 - dt.timedelta(days=1)) == new_min
    with pytest.raises(ValueError, match="not change-tracked"):
        cleanup_change_tracking(tmp_path, "dbo.Customer", day2)
