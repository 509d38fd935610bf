"""``mssql-lakehouse demo ...`` as a person would use it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mssql_lakehouse_demo import seeded_days
from mssql_lakehouse_demo.cli.demo import demo

from ._helpers import START


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_seed_then_extend_by_a_day_then_inspect(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    first = runner.invoke(
        demo, ["seed", "--demo-dir", str(folder), "--start", str(START), "--days", "2", "--scale", "0.01"]
    )
    assert first.exit_code == 0, first.output
    assert f"seeded {START}" in first.output

    # Without --start and --scale it continues where the folder stopped, at the folder's scale.
    more = runner.invoke(demo, ["seed", "--demo-dir", str(folder)])
    assert more.exit_code == 0, more.output
    assert len(seeded_days(folder)) == 3

    info = runner.invoke(demo, ["info", "--demo-dir", str(folder)])
    assert info.exit_code == 0, info.output
    assert "scale: 0.01" in info.output
    assert "erp.Sales.SalesOrderDetail" in info.output


def test_the_default_folder_comes_from_the_environment(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEHOUSE_DEMO_ERP_DIR", str(tmp_path / "from_env"))
    result = runner.invoke(demo, ["seed", "--start", str(START), "--scale", "0.01", "--regions", "amer"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from_env" / "inventory_amer.duckdb").exists()


def test_mistakes_are_reported_without_a_traceback(runner: CliRunner, tmp_path: Path) -> None:
    empty = runner.invoke(demo, ["seed", "--demo-dir", str(tmp_path / "empty")])
    assert empty.exit_code != 0 and "pass --start" in empty.output

    runner.invoke(demo, ["seed", "--demo-dir", str(tmp_path), "--start", str(START), "--scale", "0.01"])
    gap = runner.invoke(demo, ["seed", "--demo-dir", str(tmp_path), "--start", "2024-03-05"])
    assert gap.exit_code != 0 and "gap" in gap.output

    bad_date = runner.invoke(demo, ["seed", "--demo-dir", str(tmp_path), "--start", "03/05/2024"])
    assert bad_date.exit_code != 0 and "not a date" in bad_date.output


def test_update_gl_entry_and_cleanup_commands(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(demo, ["seed", "--demo-dir", str(tmp_path), "--start", str(START), "--days", "2", "--scale", "0.01"])

    restated = runner.invoke(
        demo, ["update-gl-entry", "--demo-dir", str(tmp_path), "1", "--description", "restated by audit"]
    )
    assert restated.exit_code == 0, restated.output
    assert "Description=restated by audit" in restated.output

    missing = runner.invoke(demo, ["update-gl-entry", "--demo-dir", str(tmp_path), "999999999", "--debit", "1"])
    assert missing.exit_code != 0 and "no EntryID" in missing.output

    cdc = runner.invoke(
        demo, ["cleanup-cdc", "--demo-dir", str(tmp_path), "Sales_SalesOrderHeader", "--before", "2024-03-02T00:00:00"]
    )
    assert cdc.exit_code == 0 and "minimum LSN is now 0x" in cdc.output
    ct = runner.invoke(
        demo, ["cleanup-ct", "--demo-dir", str(tmp_path), "Sales.SalesOrderHeader", "--before", "2024-03-02T00:00:00"]
    )
    assert ct.exit_code == 0 and "minimum valid version is now" in ct.output


def test_mssql_ddl_prints_the_script(runner: CliRunner) -> None:
    result = runner.invoke(demo, ["mssql-ddl", "--regions", "amer"])
    assert result.exit_code == 0
    assert "EXEC sys.sp_cdc_enable_db" in result.output
    assert "inventory_amer" in result.output and "inventory_emea" not in result.output
