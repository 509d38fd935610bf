"""No secret in a repr, a log line, an exception message or metadata."""

from __future__ import annotations

import logging
import secrets
import socket

import dagster as dg
import pytest

from mssql_lakehouse.lib.sources import MssqlSource, SourceConnectionError, TableSource
from mssql_lakehouse.lib.sources.extract import ReadSettings, read_jdbc

# Made up per run, never committed; ';' and '}' are the characters ODBC connection strings must escape.
SECRET = f"{secrets.token_hex(6)};x}}y-{secrets.token_hex(4)}"
CLIENT_SECRET = secrets.token_hex(12)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket closes: connections are refused


def _source(**kw) -> MssqlSource:
    return MssqlSource(
        server="127.0.0.1",
        port=_closed_port(),
        database="erp",
        user="etl",
        password=SECRET,
        login_timeout_seconds=2,
        erp_timezone="UTC",
        **kw,
    )


def test_repr_str_and_describe_hide_secrets():
    sp = MssqlSource(
        server="db.example.net",
        database="erp",
        auth="service_principal",
        client_id="app-id",
        client_secret=CLIENT_SECRET,
        tenant_id="t",
        erp_timezone="UTC",
    )
    for source in (_source(), sp):
        shown = [repr(source), str(source), str(source.describe()), repr(source.connection_settings())]
        for text in shown:
            assert SECRET not in text and CLIENT_SECRET not in text
    assert "***" in repr(sp)


def test_a_failed_connection_reports_no_secret(spark, caplog):
    caplog.set_level(logging.DEBUG)
    source = _source()
    with pytest.raises(SourceConnectionError) as control_error:
        source.extract(spark, TableSource("Sales", "SalesOrderDetail"))
    # The JDBC path (Spark + Microsoft driver) against a port that refuses connections.
    with pytest.raises(SourceConnectionError) as jdbc_error:
        read_jdbc(spark, source.dialect, "SELECT 1 AS c0", None, ReadSettings())
    assert "127.0.0.1" in str(jdbc_error.value) or "erp" in str(jdbc_error.value)
    for err in (control_error, jdbc_error):
        assert SECRET not in str(err.value)
    assert SECRET not in caplog.text


def test_a_failing_run_keeps_the_secret_out_of_dagster_events(spark, monkeypatch):
    monkeypatch.setenv("TEST_MSSQL_PASSWORD", SECRET)

    @dg.asset
    def order_lines(source: MssqlSource) -> None:
        source.extract(spark, TableSource("Sales", "SalesOrderDetail"))

    source = MssqlSource(
        server="127.0.0.1",
        port=_closed_port(),
        database="erp",
        user="etl",
        password=dg.EnvVar("TEST_MSSQL_PASSWORD"),
        login_timeout_seconds=2,
        erp_timezone="UTC",
    )
    result = dg.materialize([order_lines], resources={"source": source}, raise_on_error=False)

    assert not result.success
    events = "\n".join(str(e) for e in result.all_events)
    assert SECRET not in events
