"""Shared fixtures: one real local Spark session per test run, tables in tmp_path."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from mssql_lakehouse.lib.resources.deployment import resources_for
from mssql_lakehouse.lib.resources.spark import local_spark_session
from mssql_lakehouse.settings import LakehouseSettings


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    return local_spark_session(
        master="local[2]", driver_memory="3g", shuffle_partitions=2, paths=LakehouseSettings.from_env().paths
    )


@pytest.fixture
def lakehouse_home(tmp_path, monkeypatch):
    """A fresh LAKEHOUSE_HOME for one test; tables land in ``<home>/tables``."""
    home = tmp_path / "lakehouse"
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    monkeypatch.delenv("LAKEHOUSE_TABLES_ROOT", raising=False)
    monkeypatch.delenv("LAKEHOUSE_DEMO_ERP_DIR", raising=False)
    monkeypatch.delenv("LAKEHOUSE_DEPLOYMENT", raising=False)
    return home


@pytest.fixture
def local_resources(spark, lakehouse_home):
    """The local deployment's resources, pointed at this test's LAKEHOUSE_HOME."""
    return resources_for(LakehouseSettings.from_env())
