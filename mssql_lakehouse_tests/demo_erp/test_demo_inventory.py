"""Regional inventory is a system-versioned temporal table whose history reconstructs the past."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from mssql_lakehouse_demo import DEFAULT_REGIONS, inventory_path, seed

from ._helpers import SCALE, SEEDED_DAYS, START, rows, scalar

END_OF_TIME = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)

# FOR SYSTEM_TIME AS OF @t, as the extraction layer emulates it: current UNION ALL history.
AS_OF = """
    SELECT * EXCLUDE (ValidFrom, ValidTo) FROM (
        SELECT * FROM Production.ProductInventory
        UNION ALL SELECT * FROM Production.ProductInventoryHistory
    ) WHERE ValidFrom <= ? AND ? < ValidTo
    ORDER BY ProductID, LocationID
"""


@pytest.fixture(scope="module")
def three_day_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo_three_days")
    seed(folder, START, 3, SCALE)
    return folder


@pytest.mark.parametrize("region", DEFAULT_REGIONS)
def test_as_of_the_end_of_a_day_gives_the_table_as_it_was_then(
    demo_dir: Path, three_day_demo: Path, region: str
) -> None:
    end_of_day3 = dt.datetime.combine(SEEDED_DAYS[2], dt.time(23, 59, 59, 999999))
    with duckdb.connect(str(inventory_path(demo_dir, region)), read_only=True) as con:
        as_of = rows(con, AS_OF, [end_of_day3, end_of_day3])
    # The folder seeded only to day 3 holds exactly that state as its current table.
    with duckdb.connect(str(inventory_path(three_day_demo, region)), read_only=True) as con:
        then = rows(
            con,
            "SELECT * EXCLUDE (ValidFrom, ValidTo) FROM Production.ProductInventory ORDER BY ProductID, LocationID",
        )
    assert as_of == then
    assert len(then) > 0


@pytest.mark.parametrize("region", DEFAULT_REGIONS)
def test_versions_of_a_row_are_contiguous_and_the_current_one_is_open(demo_dir: Path, region: str) -> None:
    with duckdb.connect(str(inventory_path(demo_dir, region)), read_only=True) as con:
        assert scalar(con, "SELECT count(*) FROM Production.ProductInventory WHERE ValidTo <> ?", [END_OF_TIME]) == 0
        gaps = scalar(
            con,
            """
            SELECT count(*) FROM (
                SELECT ValidTo,
                       lead(ValidFrom) OVER (PARTITION BY ProductID, LocationID ORDER BY ValidFrom) AS next_from
                FROM (SELECT * FROM Production.ProductInventory
                      UNION ALL SELECT * FROM Production.ProductInventoryHistory)
            ) WHERE next_from IS NOT NULL AND next_from <> ValidTo
            """,
        )
        assert gaps == 0
        assert scalar(con, "SELECT count(*) FROM Production.ProductInventoryHistory WHERE ValidFrom >= ValidTo") == 0


@pytest.mark.parametrize("region", DEFAULT_REGIONS)
def test_each_day_changes_some_quantities_at_a_time_inside_it(demo_dir: Path, region: str) -> None:
    with duckdb.connect(str(inventory_path(demo_dir, region)), read_only=True) as con:
        closed_per_day = dict(
            con.execute("SELECT ValidTo::DATE, count(*) FROM Production.ProductInventoryHistory GROUP BY 1").fetchall()
        )
        rows_now = scalar(con, "SELECT count(*) FROM Production.ProductInventory")
        changed = rows(
            con,
            """SELECT h.Quantity AS old, c.Quantity AS new, h.ValidTo AS at
               FROM Production.ProductInventoryHistory h
               JOIN Production.ProductInventory c USING (ProductID, LocationID)
               WHERE h.ValidTo = c.ValidFrom""",
        )
    assert sorted(closed_per_day) == SEEDED_DAYS
    assert all(0 < n < rows_now for n in closed_per_day.values())
    assert all(r["at"].time() > dt.time(0) for r in changed)
    assert any(r["old"] != r["new"] for r in changed)


def test_regions_have_their_own_locations_and_data(demo_dir: Path) -> None:
    seen = {}
    for region in DEFAULT_REGIONS:
        with duckdb.connect(str(inventory_path(demo_dir, region)), read_only=True) as con:
            locations = con.execute("SELECT DISTINCT LocationID FROM Production.ProductInventory").fetchall()
            seen[region] = {r[0] for r in locations}
    assert seen == {"amer": {10, 11, 12}, "emea": {20, 21, 22}, "apac": {30, 31, 32}}
