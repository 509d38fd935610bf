"""Every ERP source runs on the business day's clock; no source setting can name another zone."""

from __future__ import annotations

import pytest

from mssql_lakehouse.lib.sources import MssqlSource
from mssql_lakehouse.settings import LakehouseSettings, SettingsError

ZONE = "America/New_York"


@pytest.fixture
def new_york(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_ERP_TIMEZONE", ZONE)
    for name in ("MSSQL_SERVER", "MSSQL_DATABASE", "MSSQL_TIME_ZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MSSQL_SERVER", "erp.example.net")
    monkeypatch.setenv("MSSQL_DATABASE", "erp")
    return monkeypatch


def test_sql_server_and_demo_sources_read_windows_on_the_erp_clock(new_york, tmp_path):
    settings = LakehouseSettings.from_env()
    for source in (MssqlSource.from_settings(settings), MssqlSource.demo(tmp_path / "erp.duckdb", settings=settings)):
        assert source.read_settings.time_zone == ZONE
        assert source.describe()["time_zone"] == ZONE


def test_a_source_zone_other_than_the_business_day_is_refused(new_york):
    new_york.setenv("MSSQL_TIME_ZONE", "UTC")
    with pytest.raises(SettingsError, match="LAKEHOUSE_ERP_TIMEZONE"):
        LakehouseSettings.from_env()
    new_york.setenv("MSSQL_TIME_ZONE", ZONE)  # saying the same thing twice is harmless
    assert MssqlSource.from_settings(LakehouseSettings.from_env()).read_settings.time_zone == ZONE


def test_a_source_built_in_code_cannot_be_given_its_own_zone(new_york, tmp_path):
    with pytest.raises(ValueError, match="LAKEHOUSE_ERP_TIMEZONE"):
        MssqlSource.demo(tmp_path / "erp.duckdb", LakehouseSettings.from_env(), time_zone="UTC")
