"""The source resource: one instance per SQL Server database (or demo DuckDB file).

Assets call :meth:`MssqlSource.extract` with a :class:`TableSource` and the
partition's window (or a saved position) and get an :class:`Extraction`: a lazy
Spark DataFrame read in parallel over JDBC, plus the figures and positions to
record. Control queries (bounds, LSN ranges, versions, reconciliation figures)
go over a short-lived DB-API connection with bound parameters.

Secrets (``password``, ``client_secret``) should be given as ``dg.EnvVar`` so
run config shows only the variable's name; the resource's ``repr``/``str`` mask
them, and every message built from driver text is redacted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import Iterator
from typing import Any, Literal

import dagster as dg
from pydantic import Field, model_validator
from pyspark.sql import SparkSession

from mssql_lakehouse.lib.sources.connection import ConnectionSettings
from mssql_lakehouse.lib.sources.control import ControlSession, control_session
from mssql_lakehouse.lib.sources.dialects import Dialect, dialect_for
from mssql_lakehouse.lib.sources.errors import SourceConfigError
from mssql_lakehouse.lib.sources.extract import (
    Extraction,
    Plan,
    ReadSettings,
    capture_instance_info,
    change_tracking_versions,
    plan_cdc,
    plan_change_tracking,
    plan_full_refresh,
    plan_rowversion,
    plan_snapshot,
    plan_watermark,
    run_extraction,
    snapshot_position,
    source_figures,
)
from mssql_lakehouse.lib.sources.positions import lsn_hex
from mssql_lakehouse.lib.sources.reconcile import ReconciliationFigures
from mssql_lakehouse.lib.sources.redaction import MASK
from mssql_lakehouse.lib.sources.spec import ExtractionMode, TableSource
from mssql_lakehouse.settings import LakehouseSettings

_SECRET_FIELDS = frozenset({"password", "client_secret"})


class MssqlSource(dg.ConfigurableResource):
    """One SQL Server database (``engine="mssql"``) or its demo stand-in (``engine="demo"``)."""

    engine: Literal["mssql", "demo"] = Field(
        default="mssql", description="'mssql' for SQL Server, 'demo' for a demo DuckDB file."
    )
    database: str = Field(description="Database name; also names the concurrency pool.")
    server: str = Field(default="", description="Host name, IP address or host\\instance.")
    port: int = Field(default=1433)
    auth: Literal["sql", "service_principal", "managed_identity"] = Field(
        default="sql", description="SQL login, Entra ID service principal, or managed identity."
    )
    user: str | None = Field(default=None, description="SQL login name.")
    password: str | None = Field(default=None, description="SQL login password (use dg.EnvVar).")
    client_id: str | None = Field(
        default=None, description="Entra ID application (client) id; for managed identity a user-assigned id."
    )
    client_secret: str | None = Field(default=None, description="Service principal secret (use dg.EnvVar).")
    tenant_id: str | None = Field(
        default=None,
        description="Entra ID tenant. The drivers learn it from the server's login challenge; it is "
        "recorded for operators and not sent.",
    )
    encrypt: bool = Field(default=True, description="Encrypt the connection (TLS).")
    trust_server_certificate: bool = Field(default=False, description="Skip certificate validation.")
    host_name_in_certificate: str | None = Field(default=None)
    read_only_intent: bool = Field(
        default=False, description="ApplicationIntent=ReadOnly (route to a readable secondary)."
    )
    login_timeout_seconds: int = Field(default=30)
    demo_path: str | None = Field(default=None, description="The DuckDB file, for engine 'demo'.")
    fetch_size: int = Field(default=10_000, description="JDBC fetch size.")
    target_rows_per_partition: int = Field(default=500_000, description="Rows per parallel JDBC read.")
    max_partitions: int = Field(default=4, description="At most this many parallel JDBC connections per extraction.")
    odbc_driver: str = Field(default="ODBC Driver 18 for SQL Server")
    application_name: str = Field(default="mssql_lakehouse")
    erp_timezone: str = Field(
        description="The business day's zone (LAKEHOUSE_ERP_TIMEZONE), the server's clock: from_settings and "
        "demo take it from the settings, so that every source cuts its windows on the partitions' clock.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_clock_of_its_own(cls, data: Any) -> Any:
        # Extra arguments are otherwise dropped in silence: a zone given here would not be used.
        if isinstance(data, dict) and "time_zone" in data:
            raise SourceConfigError(
                "MssqlSource takes no time_zone: the server's clock is the business day's zone, "
                "LAKEHOUSE_ERP_TIMEZONE, which the settings give every source"
            )
        return data

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: LakehouseSettings, **overrides: Any) -> MssqlSource:
        """The ERP's SQL Server of the settings' ``sources`` section (``MSSQL_*``), on the business day's clock.

        Secrets stay ``dg.EnvVar`` names; their values are read when a run starts.
        """
        sources = settings.sources
        config: dict[str, Any] = {
            "engine": sources.engine,
            "server": sources.server or "",
            "port": sources.port,
            "auth": sources.auth,
            "encrypt": sources.encrypt,
            "trust_server_certificate": sources.trust_server_certificate,
        }
        for key in ("database", "user", "password", "client_id", "client_secret", "tenant_id", "demo_path"):
            if getattr(sources, key):
                config[key] = getattr(sources, key)
        return cls(**{**config, **overrides}, erp_timezone=settings.erp_timezone)

    @classmethod
    def demo(
        cls, path: str | os.PathLike[str], settings: LakehouseSettings, database: str | None = None, **overrides: Any
    ) -> MssqlSource:
        """A demo source over one DuckDB file (``erp.duckdb``, ``inventory_<region>.duckdb``), on the
        business day's clock of ``settings``."""
        path = os.fspath(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        return cls(
            engine="demo", demo_path=path, database=database or stem, erp_timezone=settings.erp_timezone, **overrides
        )

    # -- no secret in repr/str --------------------------------------------------------------------
    def __repr_args__(self):  # pydantic builds __repr__ and __str__ from this
        for key, value in super().__repr_args__():
            yield key, (MASK if key in _SECRET_FIELDS and value else value)

    # -- the pieces ------------------------------------------------------------------------------
    def connection_settings(self) -> ConnectionSettings:
        return ConnectionSettings(
            engine=self.engine,
            database=self.database,
            server=self.server,
            port=self.port,
            auth=self.auth,
            user=self.user,
            password=self.password,
            client_id=self.client_id,
            client_secret=self.client_secret,
            tenant_id=self.tenant_id,
            encrypt=self.encrypt,
            trust_server_certificate=self.trust_server_certificate,
            host_name_in_certificate=self.host_name_in_certificate,
            read_only_intent=self.read_only_intent,
            login_timeout_seconds=self.login_timeout_seconds,
            application_name=self.application_name,
            odbc_driver=self.odbc_driver,
            demo_path=self.demo_path,
        )

    @property
    def dialect(self) -> Dialect:
        return dialect_for(self.connection_settings())

    @property
    def read_settings(self) -> ReadSettings:
        return ReadSettings(
            fetch_size=self.fetch_size,
            target_rows_per_partition=self.target_rows_per_partition,
            max_partitions=self.max_partitions,
            # The server's datetime2 values and CDC commit times are on the business day's clock.
            time_zone=self.erp_timezone,
        )

    @property
    def pool(self) -> str:
        """The Dagster concurrency pool protecting this database: ``mssql_<database>``.

        Assets reading from it set ``pool=source.pool``; the pool's limit in the
        Dagster instance caps concurrent extractions (each opens up to
        ``max_partitions`` JDBC connections).
        """
        return "mssql_" + re.sub(r"[^0-9A-Za-z_]", "_", self.database).lower()

    def describe(self) -> dict[str, Any]:
        """Where this source points, safe for logs and metadata (no secrets)."""
        where = self.demo_path if self.engine == "demo" else f"{self.server}:{self.port}"
        out = {
            "engine": self.engine,
            "database": self.database,
            "location": where,
            "pool": self.pool,
            "time_zone": self.erp_timezone,
        }
        if self.engine == "mssql":
            out.update(auth=self.auth, encrypt=self.encrypt, login=self.user or self.client_id or "(managed identity)")
        return out

    @contextlib.contextmanager
    def control(self) -> Iterator[ControlSession]:
        """A short-lived control connection (``?`` parameters)."""
        with control_session(self.dialect) as session:
            yield session

    # -- extraction ------------------------------------------------------------------------------
    def extract(
        self,
        spark: SparkSession,
        table: TableSource,
        *,
        window: Any = None,
        as_of: dt.datetime | None = None,
        since: int | None = None,
        from_lsn: bytes | str | None = None,
        to_lsn: bytes | str | None = None,
        full_refresh: bool = False,
        require_closed_window: bool = True,
    ) -> Extraction:
        """Read one table the way its ``TableSource.mode`` says.

        * ``full_refresh=True`` (any mode): the whole table, and ``next_position`` to resume from.
        * snapshot: optionally ``as_of`` (temporal tables).
        * watermark: ``window`` = ``dg.TimeWindow`` or ``(start, end)``, read as ``[start, end)``.
        * rowversion: ``since`` = the previous ``next_position`` (0 or None: from the beginning).
        * CDC: ``window`` (mapped to an LSN range) or ``from_lsn`` [, ``to_lsn``].
        * change tracking: ``since`` = the last sync version (the previous ``next_position``).
        """
        with self.control() as session:
            plan = self._plan(
                session, table, window, as_of, since, from_lsn, to_lsn, full_refresh, require_closed_window
            )
            mode = ExtractionMode.SNAPSHOT if full_refresh else table.mode
            return run_extraction(spark, session, table, mode, plan, self.read_settings)

    def reconcile(self, table: TableSource, **request: Any) -> ReconciliationFigures:
        """The source's figures for the same request as :meth:`extract` (without reading rows)."""
        with self.control() as session:
            plan = self._plan(
                session,
                table,
                request.get("window"),
                request.get("as_of"),
                request.get("since"),
                request.get("from_lsn"),
                request.get("to_lsn"),
                request.get("full_refresh", False),
                request.get("require_closed_window", True),
            )
            figures, _, _ = source_figures(session, plan.query)
            return figures

    def _plan(
        self,
        session: ControlSession,
        table: TableSource,
        window: Any,
        as_of: dt.datetime | None,
        since: int | None,
        from_lsn: bytes | str | None,
        to_lsn: bytes | str | None,
        full_refresh: bool,
        require_closed_window: bool,
    ) -> Plan:
        settings = self.read_settings
        mode = table.mode
        given = {
            "window": window is not None,
            "as_of": as_of is not None,
            "since": since is not None,
            "from_lsn": from_lsn is not None,
            "to_lsn": to_lsn is not None,
        }
        allowed = {
            ExtractionMode.SNAPSHOT: {"as_of"},
            ExtractionMode.WATERMARK: {"window"},
            ExtractionMode.ROWVERSION: {"since"},
            ExtractionMode.CDC: {"window", "from_lsn", "to_lsn"},
            ExtractionMode.CHANGE_TRACKING: {"since"},
        }[mode]
        if full_refresh:
            allowed = set()
        extra = sorted(k for k, v in given.items() if v and k not in allowed)
        if extra:
            what = "a full refresh" if full_refresh else f"{mode.value} mode"
            raise SourceConfigError(f"{table.name}: {what} takes no {', '.join(extra)}")
        if full_refresh:
            return plan_full_refresh(session, table, settings)
        if mode is ExtractionMode.SNAPSHOT:
            return plan_snapshot(session, table, as_of, settings)
        if mode is ExtractionMode.WATERMARK:
            if window is None:
                raise SourceConfigError(f"{table.name}: watermark mode needs a window")
            start, end = _window(window)
            return plan_watermark(session, table, start, end, settings)
        if mode is ExtractionMode.ROWVERSION:
            return plan_rowversion(session, table, since, settings)
        if mode is ExtractionMode.CDC:
            start, end = _window(window) if window is not None else (None, None)
            return plan_cdc(session, table, settings, start, end, from_lsn, to_lsn, require_closed_window)
        return plan_change_tracking(session, table, since, settings)

    # -- health ------------------------------------------------------------------------------------
    def cdc_health(self, capture_instance: str) -> dict[str, Any]:
        """Low and high LSN of a capture instance and their commit times (capture latency, retention)."""
        with self.control() as session:
            info = capture_instance_info(session, capture_instance)
            dialect = session.dialect
            return {
                "capture_instance": capture_instance,
                "source_table": f"{info.source_schema}.{info.source_table}",
                "min_lsn": lsn_hex(info.min_lsn),
                "max_lsn": lsn_hex(info.max_lsn),
                "min_lsn_time": session.scalar(dialect.cdc_lsn_time_sql, [info.min_lsn]),
                "captured_until": session.scalar(dialect.cdc_captured_until_sql),
            }

    def cdc_snapshot_position(self, capture_instance: str) -> tuple[str, dt.datetime]:
        """The LSN (hex) and commit time a full refresh of the capture instance's table would read at now."""
        with self.control() as session:
            lsn, committed = snapshot_position(session, capture_instance_info(session, capture_instance))
            return lsn_hex(lsn), committed

    def change_tracking_health(self, table: TableSource) -> dict[str, Any]:
        """The database's current change tracking version and the table's min valid version."""
        with self.control() as session:
            current, min_valid = change_tracking_versions(session, table)
            return {"table": table.name, "current_version": current, "min_valid_version": min_valid}


def _window(window: Any) -> tuple[dt.datetime, dt.datetime]:
    if isinstance(window, dg.TimeWindow):
        return window.start, window.end
    start, end = window
    return start, end
