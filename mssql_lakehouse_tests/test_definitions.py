"""The code location loads for both deployments, as `dagster definitions validate` sees it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

DATABRICKS_ENV = {
    "LAKEHOUSE_DEPLOYMENT": "databricks",
    "DATABRICKS_HOST": "https://adb-0000000000000000.0.azuredatabricks.net",
    "DATABRICKS_TOKEN": "dummy-token-for-validation",
    "DATABRICKS_CLUSTER_ID": "0000-000000-dummy000",
    "LAKEHOUSE_CATALOG": "lakehouse_dev",
}


def validate(extra_env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "LAKEHOUSE_"))}
    env.update({"DAGSTER_HOME": str(tmp_path), "LAKEHOUSE_HOME": str(tmp_path / "home"), **extra_env})
    return subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "deployment_env", [{"LAKEHOUSE_DEPLOYMENT": "local"}, DATABRICKS_ENV], ids=["local", "databricks"]
)
def test_code_location_validates(deployment_env, tmp_path):
    result = validate(deployment_env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr
    assert "dummy-token-for-validation" not in result.stdout + result.stderr


def test_databricks_deployment_without_settings_names_what_is_missing(tmp_path):
    result = validate({"LAKEHOUSE_DEPLOYMENT": "databricks"}, tmp_path)
    assert result.returncode != 0
    assert "DATABRICKS_HOST" in result.stdout + result.stderr
    assert "LAKEHOUSE_CATALOG" in result.stdout + result.stderr
