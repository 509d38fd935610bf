"""``mssql-lakehouse audit close``: a period's trial balance exactly as it was reported, and its close history."""

from __future__ import annotations

import datetime as dt
import re

import click

from mssql_lakehouse.defs.finance.close_history import GOLD_CLOSE, CloseRecord, close_history, read_close
from mssql_lakehouse.lib.transforms.ledger import TOTAL_LINE

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_COLUMNS = ("account_number", "account_name", "opening", "debits", "credits", "closing")


def _period(_ctx, _param, value: str) -> str:
    if not _PERIOD.match(value):
        raise click.BadParameter(f"{value!r} is not a period like 2026-09")
    return value


def _timestamp(_ctx, _param, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a timestamp like 2026-10-03T06:30:00") from None


def choose_close(
    history: list[CloseRecord], close: int | None, version: int | None, timestamp: dt.datetime | None
) -> CloseRecord:
    """The close in effect: close N, the latest close at or before a version or a time, else the latest."""
    if close is not None:
        found = [r for r in history if r.close_number == close]
        if not found:
            raise click.ClickException(f"no close {close}; the period has closes {[r.close_number for r in history]}")
        return found[0]
    candidates = history
    if version is not None:
        candidates = [r for r in history if r.version <= version]
    if timestamp is not None:
        at = timestamp if timestamp.tzinfo is None else timestamp.astimezone(dt.UTC)
        at = at.replace(tzinfo=None)
        candidates = [r for r in history if r.timestamp <= at]
    if not candidates:
        raise click.ClickException("the period was not closed yet at that point")
    return candidates[-1]


def render_history(history: list[CloseRecord]) -> list[str]:
    lines = [f"{'close':>5}  {'version':>7}  {'time':<19}  {'restatement':<11}  run id"]
    for r in history:
        lines.append(
            f"{r.close_number:>5}  {r.version:>7}  {r.timestamp:%Y-%m-%d %H:%M:%S}  "
            f"{'yes' if r.restatement else 'no':<11}  {r.run_id}"
        )
    return lines


def render_trial_balance(rows: list[dict]) -> list[str]:
    rows = sorted(rows, key=lambda r: (r["line_type"] == TOTAL_LINE, r["account_number"] or ""))
    lines = [f"{'account':<10} {'name':<28} {'opening':>18} {'debits':>18} {'credits':>18} {'closing':>18}"]
    for r in rows:
        lines.append(
            f"{r['account_number'] or '':<10} {(r['account_name'] or '')[:28]:<28} "
            + " ".join(f"{r[c]:>18}" for c in ("opening", "debits", "credits", "closing"))
        )
    return lines


@click.group()
def audit() -> None:
    """What finance reported, for auditors."""


@audit.command()
@click.option("--period", required=True, callback=_period, help="Reporting period YYYY-MM.")
@click.option("--as-of-close", "as_of_close", type=int, default=None, help="Close number N of the period.")
@click.option("--as-of-version", "as_of_version", type=int, default=None, help="Delta version of gold/financial_close.")
@click.option(
    "--as-of-timestamp",
    "as_of_timestamp",
    callback=_timestamp,
    default=None,
    help="A time (ISO, UTC if no offset): the close in effect then.",
)
def close(period: str, as_of_close: int | None, as_of_version: int | None, as_of_timestamp: dt.datetime | None) -> None:
    """Print a period's trial balance as reported (latest close unless asked otherwise) and its close history."""
    if sum(x is not None for x in (as_of_close, as_of_version, as_of_timestamp)) > 1:
        raise click.UsageError("give at most one of --as-of-close, --as-of-version, --as-of-timestamp")
    from mssql_lakehouse.defs.finance.settings import finance_resources
    from mssql_lakehouse.lib.resources.deployment import resources_for
    from mssql_lakehouse.settings import LakehouseSettings

    settings = LakehouseSettings.from_env()
    resources = resources_for(settings)
    spark = resources["spark"].get_session()
    location = resources["tables"].location(GOLD_CLOSE)
    archive = finance_resources(settings)["finance_archive"]
    history = close_history(spark, location, period)
    if not history:
        raise click.ClickException(f"period {period} has not been closed")
    click.echo(f"Close history of {period} ({location.uri}):")
    for line in render_history(history):
        click.echo("  " + line)
    chosen = choose_close(history, as_of_close, as_of_version, as_of_timestamp)
    df, source = read_close(spark, location, archive.root, chosen)
    click.echo("")
    click.echo(
        f"Trial balance {period}, close {chosen.close_number}"
        f"{' (restatement)' if chosen.restatement else ''}, version {chosen.version}, "
        f"run {chosen.run_id}, source extracted at {chosen.source_extracted_at}; read by {source}:"
    )
    for line in render_trial_balance([r.asDict() for r in df.collect()]):
        click.echo("  " + line)
