"""Selecting part of a slice: what a user types after ``dagster asset materialize --select``.

A multi-asset whose outputs can be computed apart materializes any one of them alone; one whose
outputs cannot is refused before a run starts, by an error that names the keys to add. The
selections the README gives for each slice resolve into a job.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from mssql_lakehouse_demo import seed

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).parent / "dagster")

# The README's "selection to use for each slice": each must build a job as it stands.
SLICE_SELECTIONS = {
    "sales, a day's silver lines": "silver/sales_order_lines,silver/sales_quarantine",
    "finance, a period's silver entries": "silver/gl_entries",
    "finance, a period's silver quarantine": "silver/gl_quarantine",
    "customer 360, a day's changes": "bronze/customer_changes,bronze/customer_changes_quarantine",
    "customer 360, a day's dimensions": "silver/customers_history,silver/customers",
    "inventory, a day and region's files": "bronze/inventory_snapshots,bronze/inventory_rejected_files",
}


@pytest.fixture
def definitions(lakehouse_home) -> dg.Definitions:
    from mssql_lakehouse.definitions import build_defs
    from mssql_lakehouse.settings import LakehouseSettings

    return build_defs(LakehouseSettings.from_env())


def _job_for(defs: dg.Definitions, selection: str) -> dg.JobDefinition:
    """The job the CLI builds for ``--select <selection>``."""
    chosen = dg.AssetSelection.from_coercible(selection.split(","))
    return dg.define_asset_job("selection", selection=chosen).resolve(asset_graph=defs.resolve_asset_graph())


@pytest.mark.parametrize("selection", SLICE_SELECTIONS.values(), ids=SLICE_SELECTIONS.keys())
def test_each_slice_selection_in_the_readme_builds_a_job(definitions, selection):
    job = _job_for(definitions, selection)
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == set(selection.split(","))


def test_one_output_of_a_multi_asset_runs_alone_or_the_error_names_the_keys_to_add(definitions):
    graph = definitions.resolve_asset_graph()
    multi_assets = [a for a in graph.assets_defs if len(a.keys) > 1]
    assert multi_assets
    for assets_def in multi_assets:
        for key in assets_def.keys:
            try:
                job = _job_for(definitions, key.to_user_string())
            except dg.DagsterInvalidSubsetError as refused:
                for other in assets_def.keys - {key}:
                    assert repr(other) in str(refused), f"{key.to_user_string()}: the error does not name {other}"  # noqa: PT017 (runs or is refused: either is fine)
            else:
                assert job.asset_layer.selected_asset_keys == {key}


def _environment(home: Path, dagster_home: Path) -> dict[str, str]:
    """The shell's environment without the settings that would point the lakehouse elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "MSSQL_", "DAGSTER_"))}
    env.update(LAKEHOUSE_HOME=str(home), DAGSTER_HOME=str(dagster_home))
    return env


def test_the_cli_materializes_one_silver_table_of_the_finance_slice(tmp_path):
    """The command of the issue, with the period's bronze in the same selection (`+`: one layer up)."""
    home, dagster_home = tmp_path / "lakehouse", tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    seed(home / "demo_erp", dt.date(2026, 1, 14), 2, 0.01)

    run = subprocess.run(
        [
            DAGSTER,
            "asset",
            "materialize",
            "-m",
            "mssql_lakehouse.definitions",
            "--select",
            "+silver/gl_entries",
            "--partition",
            "2026-01",
        ],
        cwd=REPO,
        env=_environment(home, dagster_home),
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert run.returncode == 0, run.stderr[-3000:]
    entries = DeltaTable(str(home / "tables" / "silver" / "gl_entries")).to_pyarrow_table().to_pylist()
    assert entries and all(dt.date(2026, 1, 1) <= r["posting_date"] < dt.date(2026, 2, 1) for r in entries)
    assert not (home / "tables" / "silver" / "gl_quarantine").exists(), "a table that was not selected was written"
