"""``mssql-lakehouse demo ...``: seed and maintain the embedded demo ERP."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

import mssql_lakehouse_demo as demo_erp
from mssql_lakehouse.settings import LakehouseSettings

_DEMO_DIR = click.option(
    "--demo-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The demo folder; default LAKEHOUSE_DEMO_ERP_DIR, else $LAKEHOUSE_HOME/demo_erp.",
)


def _demo_dir(value: Path | None) -> Path:
    return value.resolve() if value is not None else LakehouseSettings.from_env().paths.demo_erp_dir


def _day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2024-03-01") from None


def _days(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[dt.date, ...]:
    return tuple(_day(ctx, param, value) for value in values)


def _timestamp(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a timestamp like 2024-03-01T12:00:00") from None


def _amount(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not an amount like 125.50") from None


@click.group()
def demo() -> None:
    """The embedded DuckDB demo ERP that stands in for SQL Server."""


@demo.command()
@_DEMO_DIR
@click.option("--start", callback=_day, help="First day (YYYY-MM-DD); default: the day after the last seeded one.")
@click.option("--days", type=click.IntRange(min=1), default=1, show_default=True, help="How many days.")
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True, max=50),
    default=None,
    help="1 = about 100,000 order lines a day; default: the folder's scale, or 1 for a new folder.",
)
@click.option("--regions", default=None, help="Comma-separated inventory regions; default amer,emea,apac.")
def seed(demo_dir: Path | None, start: dt.date | None, days: int, scale: float | None, regions: str | None) -> None:
    """Create or extend the demo, day by day (days already seeded are skipped)."""
    folder = _demo_dir(demo_dir)
    held = demo_erp.seeded_days(folder)
    recorded = demo_erp.demo_settings(folder) if held else {}
    if start is None:
        if not held:
            raise click.UsageError("the demo folder is empty: pass --start for its first day")
        start = held[-1] + dt.timedelta(days=1)
    if scale is None:
        scale = float(recorded.get("scale", 1.0))
    region_list = [r.strip() for r in regions.split(",") if r.strip()] if regions else None
    try:
        result = demo_erp.seed(folder, start, days, scale, region_list)
    except (demo_erp.SeedError, demo_erp.DemoDatabaseBusy, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for day in result.seeded_days:
        click.echo(f"seeded {day} in {result.seconds_per_day[day]:.2f}s")
    if result.skipped_days:
        click.echo(f"already seeded, skipped: {result.skipped_days[0]} .. {result.skipped_days[-1]}")
    click.echo(f"demo ERP at {folder}")


@demo.command()
@_DEMO_DIR
def info(demo_dir: Path | None) -> None:
    """The demo's settings, seeded days and row counts."""
    folder = _demo_dir(demo_dir)
    held = demo_erp.seeded_days(folder)
    if not held:
        raise click.ClickException(f"no demo in {folder}; run: mssql-lakehouse demo seed --start YYYY-MM-DD")
    for name, value in sorted(demo_erp.demo_settings(folder).items()):
        click.echo(f"{name}: {value}")
    click.echo(f"seeded days: {held[0]} .. {held[-1]} ({len(held)})")
    for table, count in demo_erp.table_counts(folder).items():
        click.echo(f"{count:>12,}  {table}")


@demo.command("update-gl-entry")
@_DEMO_DIR
@click.argument("entry_id", type=int)
@click.option("--debit", callback=_amount, help="New Debit amount.")
@click.option("--credit", callback=_amount, help="New Credit amount.")
@click.option("--account-id", type=int, default=None, help="New AccountID.")
@click.option("--description", default=None, help="New Description.")
@click.option("--posting-date", callback=_day, help="New PostingDate (YYYY-MM-DD).")
@click.option("--modified-at", callback=_timestamp, help="New ModifiedDate; default just after the latest one.")
def update_gl_entry(
    demo_dir: Path | None,
    entry_id: int,
    debit: Decimal | None,
    credit: Decimal | None,
    account_id: int | None,
    description: str | None,
    posting_date: dt.date | None,
    modified_at: dt.datetime | None,
) -> None:
    """Change one posted ledger entry (Finance.GLEntry), as a restatement would."""
    try:
        row = demo_erp.update_gl_entry(
            _demo_dir(demo_dir),
            entry_id,
            debit=debit,
            credit=credit,
            account_id=account_id,
            description=description,
            posting_date=posting_date,
            modified_at=modified_at,
        )
    except (KeyError, ValueError, demo_erp.DemoDatabaseBusy) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    click.echo(", ".join(f"{k}={v}" for k, v in row.items()))


@demo.command("cleanup-cdc")
@_DEMO_DIR
@click.argument("capture_instance")
@click.option("--before", "before", callback=_timestamp, required=True, help="Drop changes committed before this time.")
def cleanup_cdc(demo_dir: Path | None, capture_instance: str, before: dt.datetime) -> None:
    """Run CDC cleanup on one capture instance (e.g. Sales_SalesOrderDetail)."""
    try:
        low = demo_erp.cleanup_cdc(_demo_dir(demo_dir), capture_instance, before)
    except (ValueError, demo_erp.DemoDatabaseBusy) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{capture_instance}: minimum LSN is now {demo_erp.format_lsn(low)}")


@demo.command("cleanup-ct")
@_DEMO_DIR
@click.argument("table")
@click.option(
    "--before", "before", callback=_timestamp, required=True, help="Forget changes committed before this time."
)
def cleanup_ct(demo_dir: Path | None, table: str, before: dt.datetime) -> None:
    """Run Change Tracking cleanup on one table (e.g. Sales.SalesOrderDetail)."""
    try:
        version = demo_erp.cleanup_change_tracking(_demo_dir(demo_dir), table, before)
    except (ValueError, demo_erp.DemoDatabaseBusy) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{table}: minimum valid version is now {version}")


@demo.command("export-inventory")
@_DEMO_DIR
@click.option("--day", "day", callback=_day, required=True, help="The ERP day whose end-of-day inventory to export.")
@click.option("--region", "regions", multiple=True, help="A region (repeatable); default every configured region.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
def export_inventory(demo_dir: Path | None, day: dt.date, regions: tuple[str, ...], fmt: str) -> None:
    """Write regional inventory snapshots to the landing zone, as the regions' exports would."""
    # Spark and the inventory settings are only needed here: keep the other commands quick to start.
    from mssql_lakehouse.defs.inventory.settings import InventoryConfig
    from mssql_lakehouse.lib.resources.spark import SparkResource
    from mssql_lakehouse_demo.inventory_export import ExportError
    from mssql_lakehouse_demo.inventory_export import export_inventory as write_export

    folder = _demo_dir(demo_dir)
    try:
        settings = LakehouseSettings.from_env()
        landing = InventoryConfig.from_settings(settings)
        targets = list(regions or settings.inventory.regions)
        spark = SparkResource.from_settings(settings).get_session()
        for region in targets:
            target = Path(landing.landing_dir(region, day.isoformat()))
            written = write_export(spark, folder, day, region, target, fmt)
            click.echo(f"{region}: {written}")
    except (ExportError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _kafka_topic(value: str | None, settings: LakehouseSettings) -> str:
    """The topic given, else LAKEHOUSE_KAFKA_TOPIC, else the one the connector names for dbo.Customer."""
    from mssql_lakehouse_demo.debezium_export import EventSettings

    return value or settings.customer_cdc.kafka_topic or EventSettings().topic


@demo.command("publish-debezium")
@_DEMO_DIR
@click.option("--bootstrap", default=None, help="Kafka bootstrap servers; default LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS.")
@click.option("--topic", default=None, help="Default LAKEHOUSE_KAFKA_TOPIC, else the connector's erp.erp.dbo.Customer.")
@click.option("--day", "days", multiple=True, callback=_days, help="A commit day (repeatable); default every day.")
@click.option("--no-schema", is_flag=True, help="Payload only (the converter's schemas.enable=false).")
@click.option(
    "--redeliver",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of the events sent a second time at the end, as after a connector restart.",
)
def publish_debezium(
    demo_dir: Path | None,
    bootstrap: str | None,
    topic: str | None,
    days: tuple[dt.date, ...],
    no_schema: bool,
    redeliver: float,
) -> None:
    """Publish the demo's dbo.Customer changes to Kafka as the Debezium connector would."""
    from mssql_lakehouse.lib.resources.spark import SparkResource
    from mssql_lakehouse_demo.debezium_export import EventSettings
    from mssql_lakehouse_demo.debezium_publish import publish

    settings = LakehouseSettings.from_env()
    bootstrap = bootstrap or settings.customer_cdc.kafka_bootstrap_servers
    if not bootstrap:
        raise click.UsageError("give --bootstrap or set LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS")
    events = EventSettings(with_schema=not no_schema)
    topic = _kafka_topic(topic, settings)
    spark = SparkResource.from_settings(settings).get_session()
    sent = publish(
        spark,
        _demo_dir(demo_dir),
        bootstrap,
        topic,
        days=list(days) or None,
        settings=events,
        redeliver=redeliver,
    )
    click.echo(f"{sent} record(s) published to {topic} on {bootstrap}")


@demo.command("kafka-broker")
@click.option("--topic", default=None, help="Default LAKEHOUSE_KAFKA_TOPIC, else the connector's erp.erp.dbo.Customer.")
@click.option("--partitions", type=click.IntRange(min=1), default=3, show_default=True)
def kafka_broker(topic: str | None, partitions: int) -> None:
    """Run a single-node Kafka broker on 127.0.0.1 with the topic, until interrupted (Ctrl-C)."""
    import time

    from mssql_lakehouse_demo.kafka_broker import KafkaBroker

    topic = _kafka_topic(topic, LakehouseSettings.from_env())
    with KafkaBroker() as broker:
        broker.create_topic(topic, partitions)
        click.echo(f"Kafka broker on {broker.bootstrap_servers} (started in {broker.started_in_seconds:.1f} s)")
        click.echo(f"export LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers} LAKEHOUSE_KAFKA_TOPIC={topic}")
        click.echo("Its data goes when it stops. Ctrl-C stops it.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("Stopping the broker")


@demo.command("mssql-ddl")
@click.option("--regions", default=",".join(demo_erp.DEFAULT_REGIONS), show_default=True)
def mssql_ddl(regions: str) -> None:
    """Print the T-SQL that creates the same schema on SQL Server (sql/mssql/create_erp_schema.sql)."""
    click.echo(demo_erp.mssql_script([r.strip() for r in regions.split(",") if r.strip()]), nl=False)
