"""Fixtures of the source layer tests: real Spark, real DuckDB files in tmp_path."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from mssql_lakehouse_demo import seed

DAY1 = dt.date(2024, 3, 1)
DAY2 = dt.date(2024, 3, 2)


@pytest.fixture(scope="session")
def seeded_demo(tmp_path_factory) -> Path:
    """Two small demo days (2024-03-01, 2024-03-02), seeded once per test run; do not modify."""
    demo_dir = tmp_path_factory.mktemp("demo_seed")
    seed(demo_dir, DAY1, 2, 0.05, regions=["amer"])
    return demo_dir


@pytest.fixture
def demo_dir(seeded_demo, tmp_path) -> Path:
    """A private copy of the seeded demo, for tests that change it."""
    target = tmp_path / "demo"
    shutil.copytree(seeded_demo, target)
    return target
