"""``mssql-lakehouse demo export-inventory`` writes a region's end-of-day snapshot into its landing folder."""

import datetime as dt

from click.testing import CliRunner

from mssql_lakehouse.cli import main
from mssql_lakehouse_demo import seed
from mssql_lakehouse_tests.inventory.conftest import erp_on_hand


def test_export_writes_each_region_into_its_landing_folder(spark, lakehouse_home, tmp_path, monkeypatch):
    day = dt.date(2026, 11, 1)
    seed(lakehouse_home / "demo_erp", day, 1, 0.01, regions=["amer", "emea"])
    emea_root = tmp_path / "emea-container"
    monkeypatch.setenv("LAKEHOUSE_LANDING_ROOT_EMEA", str(emea_root))
    monkeypatch.setenv("LAKEHOUSE_INVENTORY_REGIONS", "amer,emea")

    result = CliRunner().invoke(main, ["demo", "export-inventory", "--day", "2026-11-01", "--format", "csv"])

    assert result.exit_code == 0, result.output
    amer = lakehouse_home / "landing" / "inventory" / "amer" / "2026-11-01"
    assert [f.name for f in amer.iterdir()] == ["ProductInventory_amer_2026-11-01.csv"]
    assert [f.name for f in (emea_root / "2026-11-01").iterdir()] == ["ProductInventory_emea_2026-11-01.csv"]
    exported = spark.read.option("header", True).csv(str(amer)).collect()
    assert {(int(r.ProductID), int(r.LocationID)): int(r.Quantity) for r in exported} == {
        (p, loc): q for (_, p, loc), q in erp_on_hand(lakehouse_home / "demo_erp", "amer", day).items()
    }
    assert {r.SnapshotTime for r in exported} == {"2026-11-01 23:59:59.999999"}


def test_a_day_the_demo_does_not_hold_is_refused_without_a_traceback(spark, lakehouse_home):
    seed(lakehouse_home / "demo_erp", dt.date(2026, 11, 2), 1, 0.01, regions=["amer"])
    result = CliRunner().invoke(main, ["demo", "export-inventory", "--day", "2026-11-01", "--region", "amer"])
    assert result.exit_code != 0
    assert "no inventory on 2026-11-01" in result.output
