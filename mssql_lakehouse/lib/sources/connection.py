"""Resolved connection settings of one source database (secrets included, never printed).

The resource (:class:`mssql_lakehouse.lib.sources.resource.MssqlSource`) builds a
:class:`ConnectionSettings` from its fields once Dagster has resolved the
``dg.EnvVar`` values; the dialect turns it into a JDBC URL and properties and a
DB-API connection. Its ``repr`` masks every secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Literal

from mssql_lakehouse.lib.sources.errors import SourceConfigError
from mssql_lakehouse.lib.sources.redaction import MASK

Engine = Literal["mssql", "demo"]
Auth = Literal["sql", "service_principal", "managed_identity"]

# A host name, IPv4 address or host\instance; nothing that could smuggle another
# JDBC URL property (';') or ODBC keyword into a connection string.
_SERVER = re.compile(r"^[A-Za-z0-9._-]+(\\[A-Za-z0-9_$-]+)?$")
_SECRET_FIELDS = ("password", "client_secret")


@dataclass(frozen=True, repr=False)
class ConnectionSettings:
    engine: Engine
    database: str
    server: str = ""
    port: int = 1433
    auth: Auth = "sql"
    user: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    tenant_id: str | None = None
    encrypt: bool = True
    trust_server_certificate: bool = False
    host_name_in_certificate: str | None = None
    read_only_intent: bool = False
    login_timeout_seconds: int = 30
    application_name: str = "mssql_lakehouse"
    odbc_driver: str = "ODBC Driver 18 for SQL Server"
    demo_path: str | None = None

    def __post_init__(self) -> None:
        if self.engine == "demo":
            if not self.demo_path:
                raise SourceConfigError("engine 'demo' needs demo_path (the DuckDB file)")
            return
        if self.engine != "mssql":
            raise SourceConfigError(f"engine must be 'mssql' or 'demo', not {self.engine!r}")
        if not self.server or not _SERVER.match(self.server):
            raise SourceConfigError(f"server {self.server!r} is not a host name, IP address or host\\instance")
        if not (0 < self.port < 65536):
            raise SourceConfigError(f"port {self.port} is out of range")
        if self.auth == "sql" and not (self.user and self.password):
            raise SourceConfigError(f"SQL login to {self.server}/{self.database} needs user and password")
        if self.auth == "service_principal" and not (self.client_id and self.client_secret):
            raise SourceConfigError(
                f"service principal login to {self.server}/{self.database} needs client_id and client_secret"
            )
        if self.auth not in ("sql", "service_principal", "managed_identity"):
            raise SourceConfigError(f"auth must be sql, service_principal or managed_identity, not {self.auth!r}")

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.password, self.client_secret) if s]

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS and value:
                value = MASK
            parts.append(f"{f.name}={value!r}")
        return f"ConnectionSettings({', '.join(parts)})"

    __str__ = __repr__
