"""Seeding is deterministic, idempotent, extends day by day and refuses gaps."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from mssql_lakehouse_demo import (
    ERP_TABLES,
    INVENTORY_TABLES,
    SeedError,
    Volumes,
    content_hashes,
    erp_path,
    inventory_path,
    seed,
    seeded_days,
)

from ._helpers import SCALE, START, header_total_mismatches, scalar

DAY = dt.timedelta(days=1)


def test_reseeding_the_same_days_changes_nothing(tmp_path: Path) -> None:
    seed(tmp_path, START, 3, SCALE)
    before = content_hashes(tmp_path)

    again = seed(tmp_path, START, 3, SCALE)

    assert again.seeded_days == ()
    assert again.skipped_days == (START, START + DAY, START + 2 * DAY)
    assert content_hashes(tmp_path) == before


def test_two_fresh_folders_hold_identical_data(tmp_path: Path) -> None:
    seed(tmp_path / "a", START, 3, SCALE)
    seed(tmp_path / "b", START, 3, SCALE)

    a, b = content_hashes(tmp_path / "a"), content_hashes(tmp_path / "b")
    assert a == b
    # Every source table is in the comparison: one database per source, all tables present.
    for t in ERP_TABLES:
        assert f"erp.{t.schema}.{t.name}" in a
    for region in ("amer", "emea", "apac"):
        for t in INVENTORY_TABLES:
            assert f"inventory_{region}.{t.schema}.{t.name}" in a


def test_another_process_generates_the_same_data(tmp_path: Path) -> None:
    """hash() must not be seeded per process, or a CI run and a laptop would disagree."""
    seed(tmp_path / "here", START, 2, SCALE)
    code = (
        "import datetime as dt, json, sys;"
        "from mssql_lakehouse_demo import seed, content_hashes;"
        f"seed(sys.argv[1], dt.date.fromisoformat('{START}'), 2, {SCALE});"
        "print(json.dumps(content_hashes(sys.argv[1])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "there")], check=True, capture_output=True, text=True
    )
    assert json.loads(out.stdout) == content_hashes(tmp_path / "here")


def test_extending_day_by_day_equals_seeding_at_once(tmp_path: Path) -> None:
    seed(tmp_path / "stepwise", START, 2, SCALE)
    step = seed(tmp_path / "stepwise", START + 2 * DAY, 1, SCALE)
    seed(tmp_path / "at_once", START, 3, SCALE)

    assert step.seeded_days == (START + 2 * DAY,)
    assert content_hashes(tmp_path / "stepwise") == content_hashes(tmp_path / "at_once")


def test_an_overlapping_range_seeds_only_the_new_days(tmp_path: Path) -> None:
    seed(tmp_path, START, 2, SCALE)

    result = seed(tmp_path, START + DAY, 2, SCALE)

    assert result.skipped_days == (START + DAY,)
    assert result.seeded_days == (START + 2 * DAY,)
    assert seeded_days(tmp_path) == [START, START + DAY, START + 2 * DAY]


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (START + 3 * DAY, "would leave a gap"),
        (START - DAY, "seeding only goes forward"),
    ],
)
def test_a_gap_or_a_step_back_is_refused_and_writes_nothing(tmp_path: Path, start: dt.date, message: str) -> None:
    seed(tmp_path, START, 2, SCALE)
    before = content_hashes(tmp_path)

    with pytest.raises(SeedError, match=message):
        seed(tmp_path, start, 1, SCALE)

    assert content_hashes(tmp_path) == before


def test_the_scale_and_regions_of_a_folder_are_fixed(tmp_path: Path) -> None:
    seed(tmp_path, START, 1, SCALE)

    with pytest.raises(SeedError, match="scale"):
        seed(tmp_path, START + DAY, 1, SCALE * 2)
    with pytest.raises(SeedError, match="regions"):
        seed(tmp_path, START + DAY, 1, SCALE, regions=["amer"])
    # Not passing regions means "the folder's".
    assert seed(tmp_path, START + DAY, 1, SCALE).seeded_days == (START + DAY,)


def test_regions_are_a_parameter(tmp_path: Path) -> None:
    seed(tmp_path, START, 1, SCALE, regions=["north", "south"])

    assert sorted(p.name for p in tmp_path.glob("*.duckdb")) == [
        "erp.duckdb",
        "inventory_north.duckdb",
        "inventory_south.duckdb",
    ]
    with duckdb.connect(str(inventory_path(tmp_path, "south")), read_only=True) as con:
        found = con.execute("SELECT DISTINCT LocationID FROM Production.ProductInventory").fetchall()
        locations = {r[0] for r in found}
    assert locations == {20, 21, 22}


def test_a_lost_region_file_is_reported_not_silently_restarted(tmp_path: Path) -> None:
    seed(tmp_path, START, 2, SCALE)
    inventory_path(tmp_path, "emea").unlink()

    with pytest.raises(SeedError, match="inventory_emea"):
        seed(tmp_path, START + 2 * DAY, 1, SCALE)


def test_daily_volumes_follow_the_scale(demo_dir: Path) -> None:
    v = Volumes(SCALE)
    with duckdb.connect(str(erp_path(demo_dir)), read_only=True) as con:
        inserted_per_day = con.execute(
            'SELECT m.tran_end_time::DATE, count(*) FROM cdc."Sales_SalesOrderHeader_CT" c '
            'JOIN cdc.lsn_time_mapping m ON m.start_lsn = c."__$start_lsn" '
            'WHERE c."__$operation" = 2 GROUP BY 1'
        ).fetchall()
        lines_per_order = scalar(
            con,
            'SELECT count(*) / count(DISTINCT SalesOrderID) FROM cdc."Sales_SalesOrderDetail_CT" '
            'WHERE "__$operation" = 2',
        )
        products = scalar(con, "SELECT count(*) FROM Production.Product")
        accounts = scalar(con, "SELECT count(*) FROM Finance.GLAccount")
    assert {n for _, n in inserted_per_day} == {v.orders + v.late_orders}
    assert 3.5 < lines_per_order < 4.5
    assert products == v.products == 50
    assert accounts == 60


def test_a_day_of_a_large_scale_keeps_every_line(tmp_path: Path) -> None:
    """At scale 2 a day stages about 204,000 line changes in its transaction, the second day acting on the first's.

    DuckDB 2.0.0 dropped the rows of an insert that large into a temp table made in the same transaction
    (its count stayed right, a scan returned nothing): every order was seeded without lines.
    """
    seed(tmp_path, START, 2, 2.0, regions=["amer"])
    with duckdb.connect(str(erp_path(tmp_path)), read_only=True) as con:
        orders = scalar(con, 'SELECT count(*) FROM cdc."Sales_SalesOrderHeader_CT" WHERE "__$operation" = 2')
        inserted, deleted = con.execute(
            'SELECT count(*) FILTER ("__$operation" = 2), count(*) FILTER ("__$operation" = 1) '
            'FROM cdc."Sales_SalesOrderDetail_CT"'
        ).fetchone()
        lines = scalar(con, "SELECT count(*) FROM (SELECT DISTINCT SalesOrderDetailID FROM Sales.SalesOrderDetail)")
        mismatches = header_total_mismatches(con)
    assert orders == 2 * (Volumes(2.0).orders + Volumes(2.0).late_orders)
    assert inserted > 3.5 * orders
    assert lines == inserted - deleted
    assert mismatches == []


def test_scale_one_volumes() -> None:
    v = Volumes(1.0)
    assert (v.orders + v.late_orders) * 4 == pytest.approx(100_000, rel=0.05)
    assert v.products == 1_000 and v.customers == 20_000
    assert v.journals * 4 == pytest.approx(2_000, rel=0.05)


def test_the_seed_releases_the_files(tmp_path: Path) -> None:
    """Readers open the demo read-only afterwards; a writer left open would lock them out."""
    seed(tmp_path, START, 1, SCALE)
    with duckdb.connect(str(erp_path(tmp_path)), read_only=True) as con:
        assert scalar(con, "SELECT count(*) FROM demo.seeded_days") == 1
