"""Every setting of the code location, parsed and validated once from the environment.

:meth:`LakehouseSettings.from_env` is the only reader of ``os.environ`` in the package: every other
module receives a :class:`LakehouseSettings` (or a resource built from it). Each field of a section
names its environment variable and says whether the Databricks cluster needs it too, so the list of
variables forwarded to the cluster is derived from the fields. Secrets are kept as ``dg.EnvVar``
names, never as values: a secret never reaches a repr, a log line or the cluster's plain config.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
from dagster._utils.schedules import is_valid_cron_string

from mssql_lakehouse.defs.finance.grants import DEFAULT_GRANTS
from mssql_lakehouse.lib.regions import DEFAULT_REGIONS, validate_region


class SettingsError(ValueError):
    """Settings are missing or malformed; names every bad variable at once."""

    def __init__(self, problems: Mapping[str, str]):
        self.problems = dict(problems)
        lines = "\n".join(f"  {name}: {reason}" for name, reason in self.problems.items())
        super().__init__(f"{len(self.problems)} setting(s) missing or malformed:\n{lines}")


class Deployment(str, enum.Enum):
    LOCAL = "local"
    DATABRICKS = "databricks"


class Site(str, enum.Enum):
    """The two copies of the lakehouse: the primary and its disaster-recovery replica."""

    PRIMARY = "primary"
    SECONDARY = "secondary"

    @property
    def other(self) -> Site:
        return Site.SECONDARY if self is Site.PRIMARY else Site.PRIMARY


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


# -- how a field is read ------------------------------------------------------------------------


def setting(
    env: str,
    default: Any = None,
    *,
    forward: bool = False,
    secret: bool = False,
    parse: Callable[[str], Any] | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A section field read from ``env``; ``forward`` sends it to the Databricks cluster as plain
    config (both sides must build the same definitions); a ``secret`` is kept as its ``dg.EnvVar``
    name and is never forwarded."""
    assert not (forward and secret), f"{env}: a secret is never forwarded as a value"
    metadata = {"env": env, "forward": forward, "secret": secret, "parse": parse or str}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def per_region(prefix: str, *, forward: bool) -> Any:
    """A mapping region -> value read from ``<prefix><REGION>`` for each configured region."""
    return field(default_factory=dict, metadata={"env_prefix": prefix, "forward": forward, "secret": False})


def _enum(kind: type[enum.Enum]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            return kind(raw.strip().lower())
        except ValueError:
            raise ValueError(f"is not one of: {', '.join(k.value for k in kind)}") from None

    return parse


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"is not one of: {', '.join(allowed)}")
        return value

    return parse


def _path(raw: str) -> Path:
    return Path(raw).resolve()


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("must be a number") from None


def _zone(raw: str) -> str:
    name = raw.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not an IANA time zone (e.g. America/New_York)") from None
    return name


def _date(raw: str) -> str:
    try:
        return dt.date.fromisoformat(raw.strip()).isoformat()
    except ValueError:
        raise ValueError("must be a date, YYYY-MM-DD") from None


def _cron(raw: str) -> str:
    if not is_valid_cron_string(raw.strip()):
        raise ValueError("is not a cron expression (e.g. 0 2 * * *)")
    return raw.strip()


def _items(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.replace(";", ",").split(",") if part.strip())


def _regions(raw: str) -> tuple[str, ...]:
    regions = _items(raw)
    if not regions or len(set(regions)) != len(regions):
        raise ValueError("must name regions without repeats")
    # Region names become partition keys, folder names and environment variable suffixes.
    return tuple(validate_region(r) for r in regions)


_DR_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*/[A-Za-z_][A-Za-z0-9_]*$")


def _dr_tables(raw: str) -> tuple[str, ...]:
    tables = _items(raw)
    bad = [t for t in tables if not _DR_TABLE.match(t)]
    if bad:
        # The names reach CLONE statements and file paths: plain identifiers only.
        raise ValueError(f"entries must be layer/table identifiers, not {bad}")
    return tuple(dict.fromkeys(tables))


def _json_object(raw: str, example: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"is not JSON ({error.msg})") from None
    if not isinstance(value, dict):
        raise ValueError(f"must be a JSON object like {example}")
    return value


def _grants(raw: str) -> dict[str, dict[str, list[str]]]:
    return _json_object(raw, '{"gold": {"finance_readers": ["SELECT"]}}')


def _absolute(raw: str) -> str:
    if not raw.startswith("/"):
        raise ValueError("must be an absolute DBFS path")
    return raw


@dataclass(frozen=True)
class SecretToEnv:
    env_name: str
    scope: str
    key: str


def parse_secret_mappings(raw: str) -> tuple[SecretToEnv, ...]:
    """Parse ``ENV=scope/key;ENV2=scope/key2`` into secret-to-environment mappings."""
    mappings = []
    for item in _items(raw):
        env_name, sep, ref = item.partition("=")
        scope, slash, key = ref.partition("/")
        if not (sep and slash and env_name.strip() and scope.strip() and key.strip()):
            raise SettingsError(
                {"LAKEHOUSE_DATABRICKS_SECRETS": f"entry {item!r} is not of the form ENV_NAME=scope/key"}
            )
        mappings.append(SecretToEnv(env_name.strip(), scope.strip(), key.strip()))
    return tuple(mappings)


def _secret_mappings(raw: str) -> tuple[SecretToEnv, ...]:
    try:
        return parse_secret_mappings(raw)
    except SettingsError as error:
        raise ValueError(error.problems["LAKEHOUSE_DATABRICKS_SECRETS"]) from None


# -- the sections -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathsSettings:
    """The deployment and where the state lives; locally all under ``LAKEHOUSE_HOME``."""

    deployment: Deployment = setting("LAKEHOUSE_DEPLOYMENT", Deployment.LOCAL, parse=_enum(Deployment))
    active_site: Site = setting("LAKEHOUSE_ACTIVE_SITE", Site.PRIMARY, parse=_enum(Site))
    home: Path = setting("LAKEHOUSE_HOME", Path(".lakehouse"), parse=_path)
    catalog: str | None = setting("LAKEHOUSE_CATALOG", forward=True)
    tables_root: str | None = setting("LAKEHOUSE_TABLES_ROOT", forward=True)
    dr_tables_root: str | None = setting("DR_LAKEHOUSE_ROOT")
    demo_erp_dir: Path | None = setting("LAKEHOUSE_DEMO_ERP_DIR", parse=_path)
    jar_cache_dir: Path | None = setting("LAKEHOUSE_JAR_CACHE", parse=_path)
    run_alerts_uri: str | None = setting("LAKEHOUSE_RUN_ALERTS_URI", forward=True)
    # Set by the Databricks runtime: true on the cluster, the remote side of the step launcher.
    on_databricks: bool = setting("DATABRICKS_RUNTIME_VERSION", False, parse=lambda _: True)

    def __post_init__(self) -> None:
        home = Path(self.home).resolve()
        object.__setattr__(self, "home", home)
        object.__setattr__(self, "demo_erp_dir", Path(self.demo_erp_dir or home / "demo_erp").resolve())
        object.__setattr__(
            self, "jar_cache_dir", Path(self.jar_cache_dir or project_root() / ".cache" / "jars").resolve()
        )
        if self.run_alerts_uri is None:
            object.__setattr__(self, "run_alerts_uri", str(self.local_tables_root / "ops" / "run_alerts"))

    @property
    def local_tables_root(self) -> Path:
        """Where local pipelines read and write: the active site's tables root (``LAKEHOUSE_ACTIVE_SITE``)."""
        return self.site_tables_root(self.active_site)

    @property
    def standby_tables_root(self) -> Path:
        """The other site's tables root: where the DR replica is kept."""
        return self.site_tables_root(self.active_site.other)

    def site_tables_root(self, site: Site) -> Path:
        """``LAKEHOUSE_TABLES_ROOT`` for the primary site, ``DR_LAKEHOUSE_ROOT`` for the secondary."""
        if site is Site.SECONDARY:
            return Path(self.dr_tables_root or self.home / "dr" / "tables").resolve()
        return Path(self.tables_root or self.home / "tables").resolve()

    @property
    def landing_root(self) -> Path:
        return self.home / "landing"

    @property
    def on_databricks_deployment(self) -> bool:
        """The databricks deployment, on the launching side or on the cluster."""
        return self.on_databricks or self.deployment is Deployment.DATABRICKS


@dataclass(frozen=True)
class BusinessDaySettings:
    """The business day: its time zone and the first day of the partitions.

    The ERP writes ``datetime2`` values and CDC commit times on this wall clock, so the zone is at
    once that of the daily and monthly partitions, of every source's time windows, of the demo
    ERP's clock and of the schedules. It is read here only, so no part can cut the day elsewhere.
    """

    erp_timezone: str = setting("LAKEHOUSE_ERP_TIMEZONE", "UTC", forward=True, parse=_zone)
    partitions_start: str = setting("LAKEHOUSE_PARTITIONS_START", "2026-01-01", forward=True, parse=_date)


@dataclass(frozen=True)
class SourcesSettings:
    """The ERP's SQL Server (``MSSQL_*``); without ``MSSQL_SERVER`` the embedded demo ERP is read."""

    server: str | None = setting("MSSQL_SERVER", forward=True)
    port: int = setting("MSSQL_PORT", 1433, forward=True, parse=_int)
    database: str | None = setting("MSSQL_DATABASE", forward=True)
    engine: str = setting("MSSQL_ENGINE", "mssql", parse=_choice("mssql", "demo"))
    auth: str = setting(
        "MSSQL_AUTH", "sql", forward=True, parse=_choice("sql", "service_principal", "managed_identity")
    )
    user: str | None = setting("MSSQL_USER", forward=True)
    password: dg.EnvVar | None = setting("MSSQL_PASSWORD", secret=True)
    client_id: str | None = setting("MSSQL_CLIENT_ID", forward=True)
    client_secret: dg.EnvVar | None = setting("MSSQL_CLIENT_SECRET", secret=True)
    tenant_id: str | None = setting("MSSQL_TENANT_ID", forward=True)
    encrypt: bool = setting("MSSQL_ENCRYPT", True, forward=True, parse=_bool)
    trust_server_certificate: bool = setting("MSSQL_TRUST_SERVER_CERTIFICATE", False, forward=True, parse=_bool)
    demo_path: str | None = setting("MSSQL_DEMO_PATH")
    # Only to be refused when it differs: the server's clock is the business day's zone.
    time_zone: str | None = setting("MSSQL_TIME_ZONE")

    @property
    def uses_sql_server(self) -> bool:
        return bool(self.server)


@dataclass(frozen=True)
class SalesSettings:
    cutoff_cron: str = setting("LAKEHOUSE_SALES_CUTOFF_CRON", "0 2 * * *", parse=_cron)


@dataclass(frozen=True)
class InventorySettings:
    """Regions, where each region's exports land, and where stock-out risk starts.

    A region's exports land in ``LAKEHOUSE_LANDING_ROOT_<REGION>`` (a folder or a cloud URI), by
    default ``$LAKEHOUSE_HOME/landing/inventory/<region>`` locally and the Unity Catalog volume
    ``/Volumes/<LAKEHOUSE_CATALOG>/landing/inventory/<region>`` on Databricks; one folder per day.
    """

    regions: tuple[str, ...] = setting("LAKEHOUSE_INVENTORY_REGIONS", DEFAULT_REGIONS, forward=True, parse=_regions)
    min_days_of_cover: float = setting("LAKEHOUSE_INVENTORY_MIN_DAYS_OF_COVER", 3.0, forward=True, parse=_float)
    landing_roots: Mapping[str, str] = per_region("LAKEHOUSE_LANDING_ROOT_", forward=True)
    autoloader_roots: Mapping[str, str] = per_region("LAKEHOUSE_AUTOLOADER_ROOT_", forward=True)


@dataclass(frozen=True)
class CustomerCdcFeedSettings:
    """Which feed lands ``dbo.Customer``'s changes, and how the Debezium feed is read."""

    feed: str = setting("LAKEHOUSE_CDC_FEED", "sqlserver", forward=True, parse=_choice("sqlserver", "debezium"))
    debezium_source: str = setting(
        "LAKEHOUSE_DEBEZIUM_SOURCE", "files", forward=True, parse=_choice("files", "autoloader", "kafka", "eventhubs")
    )
    debezium_path: str | None = setting("LAKEHOUSE_DEBEZIUM_PATH", forward=True)
    debezium_storage: str | None = setting("LAKEHOUSE_DEBEZIUM_STORAGE", forward=True)
    kafka_bootstrap_servers: str | None = setting("LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS", forward=True)
    kafka_topic: str | None = setting("LAKEHOUSE_KAFKA_TOPIC", forward=True)
    eventhubs_connection_string: dg.EnvVar | None = setting("LAKEHOUSE_EVENTHUBS_CONNECTION_STRING", secret=True)
    time_precision_mode: str = setting(
        "LAKEHOUSE_DEBEZIUM_TIME_PRECISION_MODE",
        "adaptive",
        forward=True,
        parse=_choice("adaptive", "adaptive_time_microseconds", "connect"),
    )
    decimal_handling_mode: str = setting(
        "LAKEHOUSE_DEBEZIUM_DECIMAL_HANDLING_MODE",
        "precise",
        forward=True,
        parse=_choice("precise", "string", "double"),
    )
    max_lag_hours: float = setting("LAKEHOUSE_CDC_MAX_LAG_HOURS", 48.0, forward=True, parse=_float)


@dataclass(frozen=True)
class FinanceSettings:
    """The month-end close: its schedule, its archive, and the grants of its gold tables."""

    archive_root: str | None = setting("LAKEHOUSE_ARCHIVE_ROOT", forward=True)
    retention_days: int = setting("LAKEHOUSE_AUDIT_RETENTION_DAYS", 2555, forward=True, parse=_int)  # seven years
    grants: Mapping[str, Any] = setting(
        "LAKEHOUSE_FINANCE_GRANTS", forward=True, parse=_grants, factory=lambda: json.loads(json.dumps(DEFAULT_GRANTS))
    )
    revoke_from: tuple[str, ...] = setting(
        "LAKEHOUSE_FINANCE_REVOKE_FROM", ("account users",), forward=True, parse=_items
    )
    close_cron: str = setting("LAKEHOUSE_FINANCE_CLOSE_CRON", "0 6 * * 1-5", parse=_cron)
    close_business_day: int = setting("LAKEHOUSE_FINANCE_CLOSE_BUSINESS_DAY", 3, parse=_int)


DEFAULT_DR_TABLES = (
    "bronze/inventory_snapshots",
    "bronze/inventory_rejected_files",
    "silver/inventory",
    "gold/inventory_position",
)


@dataclass(frozen=True)
class DrSettings:
    """The disaster-recovery replica: which tables, where on Databricks, how often, how late."""

    tables: tuple[str, ...] = setting("LAKEHOUSE_DR_TABLES", DEFAULT_DR_TABLES, forward=True, parse=_dr_tables)
    catalog: str | None = setting("LAKEHOUSE_DR_CATALOG", forward=True)
    max_lag_minutes: float = setting("LAKEHOUSE_DR_MAX_LAG_MINUTES", 120.0, forward=True, parse=_float)
    cron: str = setting("LAKEHOUSE_DR_CRON", "*/30 * * * *", parse=_cron)


DEFAULT_DATABRICKS_SECRETS = "MSSQL_PASSWORD=lakehouse/mssql-password"
SECRET_LOOKING = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE|CONNECTION_STRING|(^|_)KEY($|_)")


@dataclass(frozen=True)
class DatabricksWorkspaceSettings:
    """The workspace the step launcher submits to, and the cluster it asks for (launching side only)."""

    host: str | None = setting("DATABRICKS_HOST")
    token: dg.EnvVar | None = setting("DATABRICKS_TOKEN", secret=True)
    client_id: str | None = setting("DATABRICKS_CLIENT_ID")
    client_secret: dg.EnvVar | None = setting("DATABRICKS_CLIENT_SECRET", secret=True)
    cluster_id: str | None = setting("DATABRICKS_CLUSTER_ID")
    spark_version: str = setting("DATABRICKS_SPARK_VERSION", "17.3.x-scala2.13")
    node_type: str = setting("DATABRICKS_NODE_TYPE", "Standard_D4ds_v5")
    num_workers: int = setting("DATABRICKS_NUM_WORKERS", 2, parse=_int)
    # A job cluster reaches Unity Catalog only in a governed access mode.
    data_security_mode: str = setting("DATABRICKS_DATA_SECURITY_MODE", "SINGLE_USER")
    policy_id: str | None = setting("DATABRICKS_POLICY_ID")
    staging_prefix: str = setting("DATABRICKS_STAGING_PREFIX", "/dagster_staging", parse=_absolute)
    secrets: tuple[SecretToEnv, ...] = setting(
        "LAKEHOUSE_DATABRICKS_SECRETS",
        factory=lambda: parse_secret_mappings(DEFAULT_DATABRICKS_SECRETS),
        parse=_secret_mappings,
    )
    code_packages: tuple[str, ...] = setting("LAKEHOUSE_DATABRICKS_CODE_PACKAGES", ("mssql_lakehouse",), parse=_items)
    extra_libraries: tuple[str, ...] = setting("LAKEHOUSE_DATABRICKS_EXTRA_LIBRARIES", (), parse=_items)
    forward_env: tuple[str, ...] = setting("LAKEHOUSE_DATABRICKS_FORWARD_ENV", (), parse=_items)
    run_timeout_seconds: int = setting("DATABRICKS_RUN_TIMEOUT_SECONDS", 3600, parse=_int)
    # Default: a little after Databricks would have timed the run out itself.
    wait_timeout_seconds: int | None = setting("DATABRICKS_WAIT_TIMEOUT_SECONDS", parse=_int)
    poll_interval_seconds: float = setting("DATABRICKS_POLL_INTERVAL_SECONDS", 10.0, parse=_float)

    def __post_init__(self) -> None:
        if self.wait_timeout_seconds is None:
            object.__setattr__(self, "wait_timeout_seconds", self.run_timeout_seconds + 300)


def _spark_conf(raw: str) -> dict[str, str]:
    example = '{"spark.sql.shuffle.partitions": "8"}'
    conf = _json_object(raw, example)
    if not all(k.startswith("spark.") for k in conf):
        raise ValueError(f"must be a JSON object of Spark settings like {example}")
    return {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in conf.items()}


@dataclass(frozen=True)
class LocalSparkSettings:
    """The local Spark session; a Databricks cluster keeps its runtime's session and settings."""

    master: str = setting("LAKEHOUSE_SPARK_MASTER", "local[*]")
    driver_memory: str = setting("LAKEHOUSE_SPARK_DRIVER_MEMORY", "4g")
    # small_data: code generation and adaptive execution off (the demo, tests, a day of a small
    # source); spark_defaults: Spark's own, for local runs of real volumes (README, "Local Spark").
    tuning: str = setting("LAKEHOUSE_SPARK_TUNING", "small_data", parse=_choice("small_data", "spark_defaults"))
    conf: dict[str, str] = setting("LAKEHOUSE_SPARK_CONF", factory=dict, parse=_spark_conf)


@dataclass(frozen=True)
class MaintenanceSettings:
    cron: str = setting(
        "LAKEHOUSE_MAINTENANCE_CRON", "0 3 * * 0", parse=_cron
    )  # Sunday 03:00, away from the nightly runs


@dataclass(frozen=True)
class AlertsSettings:
    """Failed runs and failed error-severity checks, besides ``ops/run_alerts``, posted to a webhook."""

    webhook_url: dg.EnvVar | None = setting("LAKEHOUSE_ALERTS_WEBHOOK_URL", secret=True)
    webhook_format: str = setting("LAKEHOUSE_ALERTS_WEBHOOK_FORMAT", "slack", parse=_choice("slack", "teams"))


SECTIONS: dict[str, type] = {
    "paths": PathsSettings,
    "local_spark": LocalSparkSettings,
    "business_day": BusinessDaySettings,
    "sources": SourcesSettings,
    "sales": SalesSettings,
    "inventory": InventorySettings,
    "customer_cdc": CustomerCdcFeedSettings,
    "finance": FinanceSettings,
    "dr": DrSettings,
    "databricks": DatabricksWorkspaceSettings,
    "maintenance": MaintenanceSettings,
    "alerts": AlertsSettings,
}


@dataclass(frozen=True)
class LakehouseSettings:
    """Every setting of the code location, parsed and validated once by :meth:`from_env`."""

    paths: PathsSettings = field(default_factory=PathsSettings)
    local_spark: LocalSparkSettings = field(default_factory=LocalSparkSettings)
    business_day: BusinessDaySettings = field(default_factory=BusinessDaySettings)
    sources: SourcesSettings = field(default_factory=SourcesSettings)
    sales: SalesSettings = field(default_factory=SalesSettings)
    inventory: InventorySettings = field(default_factory=InventorySettings)
    customer_cdc: CustomerCdcFeedSettings = field(default_factory=CustomerCdcFeedSettings)
    finance: FinanceSettings = field(default_factory=FinanceSettings)
    dr: DrSettings = field(default_factory=DrSettings)
    databricks: DatabricksWorkspaceSettings = field(default_factory=DatabricksWorkspaceSettings)
    maintenance: MaintenanceSettings = field(default_factory=MaintenanceSettings)
    alerts: AlertsSettings = field(default_factory=AlertsSettings)
    # The plain values the cluster gets (forwarded fields that are set), as they were given.
    forwarded_env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def erp_timezone(self) -> str:
        return self.business_day.erp_timezone

    @property
    def deployment(self) -> Deployment:
        return self.paths.deployment

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> LakehouseSettings:
        """Parses every section; raises one :class:`SettingsError` naming every bad or missing variable."""
        problems: dict[str, str] = {}
        values = {name: _read_section(section, env, problems) for name, section in SECTIONS.items()}
        sections = {name: SECTIONS[name](**fields) for name, fields in values.items()}
        sections["inventory"] = _with_landing_roots(sections["inventory"], sections["paths"], env)
        _check_together(sections, problems)
        if problems:
            raise SettingsError(problems)
        return cls(**sections, forwarded_env=_forwarded(sections, env))


def variables() -> list[dict[str, Any]]:
    """Every variable: section, name, default, forwarded, secret (the README's table)."""
    rows = []
    for section_name, section in SECTIONS.items():
        for f in dataclasses.fields(section):
            meta = f.metadata
            if "env" in meta:
                default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                rows.append(
                    {
                        "section": section_name,
                        "name": meta["env"],
                        "default": default,
                        "forward": meta["forward"],
                        "secret": meta["secret"],
                    }
                )
            elif "env_prefix" in meta:
                rows.append(
                    {
                        "section": section_name,
                        "name": f"{meta['env_prefix']}<REGION>",
                        "default": None,
                        "forward": meta["forward"],
                        "secret": False,
                    }
                )
    return rows


def forwarded_variables(regions: tuple[str, ...]) -> tuple[str, ...]:
    """The names the cluster receives when set: the forwarded fields and their per-region variables."""
    names: list[str] = []
    for section in SECTIONS.values():
        for f in dataclasses.fields(section):
            if not f.metadata.get("forward"):
                continue
            if "env" in f.metadata:
                names.append(f.metadata["env"])
            else:
                names.extend(f"{f.metadata['env_prefix']}{r.upper()}" for r in regions)
    return tuple(names)


def _read_section(section: type, env: Mapping[str, str], problems: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(section):
        name = f.metadata.get("env")
        if name is None:
            continue
        raw = env.get(name)
        if raw is None or not raw.strip():
            continue
        if f.metadata["secret"]:
            # Only the name is kept: the value is read where it is used, when a run starts.
            values[f.name] = dg.EnvVar(name)
            continue
        try:
            values[f.name] = f.metadata["parse"](raw)
        except ValueError as error:
            problems[name] = f"{raw!r} {error}"
    return values


def _with_landing_roots(
    inventory: InventorySettings, paths: PathsSettings, env: Mapping[str, str]
) -> InventorySettings:
    landing = {}
    for region in inventory.regions:
        configured = (env.get(f"LAKEHOUSE_LANDING_ROOT_{region.upper()}") or "").strip()
        if configured:
            landing[region] = configured.rstrip("/")
        elif paths.catalog and paths.on_databricks_deployment:
            landing[region] = f"/Volumes/{paths.catalog}/landing/inventory/{region}"
        else:
            landing[region] = str(paths.landing_root / "inventory" / region)
    # Auto Loader's state sits next to the landing root, ``_``-prefixed so that no one takes it for a day folder.
    autoloader = {
        region: (env.get(f"LAKEHOUSE_AUTOLOADER_ROOT_{region.upper()}") or "").strip()
        or f"{landing[region]}/_autoloader"
        for region in inventory.regions
    }
    return dataclasses.replace(inventory, landing_roots=landing, autoloader_roots=autoloader)


def _check_together(sections: dict[str, Any], problems: dict[str, str]) -> None:
    """Rules that involve more than one variable."""
    paths: PathsSettings = sections["paths"]
    zone = sections["business_day"].erp_timezone
    sources: SourcesSettings = sections["sources"]
    if sources.time_zone and sources.time_zone.strip() != zone:
        problems["MSSQL_TIME_ZONE"] = (
            f"{sources.time_zone!r} differs from LAKEHOUSE_ERP_TIMEZONE={zone!r}. The ERP's wall clock is the "
            "business day: set LAKEHOUSE_ERP_TIMEZONE to the server's zone and unset MSSQL_TIME_ZONE."
        )
    if sources.uses_sql_server and not sources.database:
        problems["MSSQL_DATABASE"] = "is needed with MSSQL_SERVER"
    if sections["finance"].close_business_day not in range(1, 24):
        problems["LAKEHOUSE_FINANCE_CLOSE_BUSINESS_DAY"] = "must be a business day of the month, 1 to 23"
    if not paths.on_databricks_deployment:
        return
    if paths.deployment is Deployment.DATABRICKS and paths.active_site is Site.SECONDARY:
        problems["LAKEHOUSE_ACTIVE_SITE"] = (
            "applies to local tables roots. On Databricks, fail over by pointing LAKEHOUSE_CATALOG at the DR "
            "catalog and LAKEHOUSE_DR_CATALOG at the primary one."
        )
    if bool(paths.catalog) == bool(paths.tables_root):
        problems["LAKEHOUSE_CATALOG"] = (
            "LAKEHOUSE_DEPLOYMENT=databricks needs exactly one of LAKEHOUSE_CATALOG (Unity Catalog tables)"
            " or LAKEHOUSE_TABLES_ROOT (path-based tables)" + (", not both" if paths.catalog else "")
        )
    if paths.on_databricks:
        return  # the cluster runs steps; it needs no workspace settings
    workspace: DatabricksWorkspaceSettings = sections["databricks"]
    if not workspace.host:
        problems["DATABRICKS_HOST"] = "is needed by LAKEHOUSE_DEPLOYMENT=databricks"
    if not (workspace.token or (workspace.client_id and workspace.client_secret)):
        problems["DATABRICKS_TOKEN"] = (
            "(or DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET) is needed by LAKEHOUSE_DEPLOYMENT=databricks"
        )
    secret_names = {s.env_name for s in workspace.secrets}
    refused = [n for n in workspace.forward_env if SECRET_LOOKING.search(n.upper()) or n in secret_names]
    if refused:
        problems["LAKEHOUSE_DATABRICKS_FORWARD_ENV"] = (
            f"would copy {', '.join(refused)} into plain run config;"
            " map secrets with LAKEHOUSE_DATABRICKS_SECRETS instead"
        )


def _forwarded(sections: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    names = forwarded_variables(sections["inventory"].regions)
    workspace: DatabricksWorkspaceSettings = sections["databricks"]
    secret_names = {s.env_name for s in workspace.secrets}
    return {n: env[n] for n in (*names, *workspace.forward_env) if env.get(n) and n not in secret_names}
