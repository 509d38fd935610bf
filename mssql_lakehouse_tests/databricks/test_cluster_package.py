"""What reaches the cluster: the runtime package, without the demo ERP or the tests, and that it needs neither.

The step launcher zips ``settings.code_packages`` (by default ``mssql_lakehouse`` alone) and the
cluster imports the definitions from that zip. The demo ERP is installed with the project for
``mssql-lakehouse demo`` and ``quickstart`` on a laptop; it must neither travel nor be needed there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import dagster as dg
import pytest
from dagster_databricks.databricks_pyspark_step_launcher import CODE_ZIP_NAME
from dagster_pyspark.utils import build_pyspark_zip

from mssql_lakehouse.lib.resources.databricks import DatabricksSettings, databricks_step_launcher
from mssql_lakehouse.settings import LakehouseSettings

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# A fresh process sees no setting of the test run: only what each case gives it.
_OWN_PREFIXES = ("LAKEHOUSE_", "DATABRICKS_", "MSSQL_", "DR_")


def _databricks_env(tmp_path: Path) -> dict[str, str]:
    return {
        "LAKEHOUSE_DEPLOYMENT": "databricks",
        "DATABRICKS_HOST": "https://workspace.invalid",
        "DATABRICKS_TOKEN": "dapi-not-a-token",
        "LAKEHOUSE_TABLES_ROOT": str(tmp_path / "tables"),
    }


def test_the_package_the_launcher_zips_holds_the_runtime_and_neither_the_demo_erp_nor_the_tests(tmp_path, monkeypatch):
    env = _databricks_env(tmp_path)
    for name in [n for n in os.environ if n.startswith(_OWN_PREFIXES)]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        # The launcher config names DATABRICKS_HOST and DATABRICKS_TOKEN: Dagster reads them building the resource.
        monkeypatch.setenv(name, value)
    settings = DatabricksSettings.from_settings(LakehouseSettings.from_env(env))
    assert settings.code_packages == ("mssql_lakehouse",)

    # The launcher's own steps: the resource copies the code packages, then each step zips that folder.
    with dg.build_resources({"step_launcher": databricks_step_launcher(settings)}) as resources:
        code_zip = tmp_path / CODE_ZIP_NAME
        build_pyspark_zip(str(code_zip), resources.step_launcher.local_dagster_job_package_path)
    names = zipfile.ZipFile(code_zip).namelist()

    assert "mssql_lakehouse/__init__.py" in names
    assert "mssql_lakehouse/definitions.py" in names
    assert "mssql_lakehouse/settings.py" in names
    assert "mssql_lakehouse/lib/io/delta_io_manager.py" in names
    assert "mssql_lakehouse/lib/sources/resource.py" in names
    assert any(n.startswith("mssql_lakehouse/defs/sales/") for n in names)
    assert {n.split("/")[0] for n in names} == {"mssql_lakehouse"}
    demo_files = [n for n in names if "demo" in n.lower() or Path(n).stem in ("generator", "schema", "quickstart")]
    assert demo_files == []
    assert not [n for n in names if "mssql_lakehouse_tests" in n or Path(n).name.startswith("test_")]


_BLOCK_DEMO = """
import sys

class NoDemoPackage:
    # The cluster has no mssql_lakehouse_demo: any import of it fails here as it would there.
    def find_spec(self, name, path=None, target=None):
        if name == "mssql_lakehouse_demo" or name.startswith("mssql_lakehouse_demo."):
            raise ModuleNotFoundError(f"No module named {name!r} (not shipped to the cluster)", name=name)
        return None

sys.meta_path.insert(0, NoDemoPackage())

import dagster as dg
from mssql_lakehouse.definitions import build_defs
from mssql_lakehouse.settings import LakehouseSettings

defs = build_defs(LakehouseSettings.from_env())
dg.Definitions.validate_loadable(defs)
assert not [m for m in sys.modules if m.startswith("mssql_lakehouse_demo")]
print(len(defs.resolve_asset_graph().get_all_asset_keys()), "assets")
"""


@pytest.mark.parametrize("deployment", ["local", "databricks"])
def test_the_code_location_builds_where_the_demo_erp_cannot_be_imported(tmp_path, deployment):
    env = {name: value for name, value in os.environ.items() if not name.startswith(_OWN_PREFIXES)}
    env.update(LAKEHOUSE_HOME=str(tmp_path / "home"), PYTHONPATH=str(PROJECT_ROOT))
    if deployment == "databricks":
        env.update(_databricks_env(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", _BLOCK_DEMO], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert int(result.stdout.split()[0]) > 0
