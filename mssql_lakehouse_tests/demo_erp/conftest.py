"""A small demo ERP seeded once per test session (scale 0.01, six days), opened read-only by tests.

Tests that write (cleanup, restatements, re-seeding) seed their own folder under tmp_path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from mssql_lakehouse_demo import erp_path, seed

from ._helpers import DAYS, SCALE, START


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo_erp")
    seed(folder, START, DAYS, SCALE)
    return folder


@pytest.fixture
def erp(demo_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(erp_path(demo_dir)), read_only=True) as con:
        yield con
