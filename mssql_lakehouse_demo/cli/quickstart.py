"""`mssql-lakehouse quickstart`: the main job on this machine, against the embedded demo ERP.

Seeds the demo ERP for the last N days, backfills those days through the sales
slice in one run, runs the nightly job for the last day as the schedule would,
and prints what landed.
"""

from __future__ import annotations

import datetime as dt
import time

import click
import dagster as dg
from dagster._core.errors import DagsterHomeNotSetError
from pyspark.sql import functions as F

from mssql_lakehouse.settings import LakehouseSettings, PathsSettings
from mssql_lakehouse_demo import seed, seeded_days

SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}


def _instance() -> dg.DagsterInstance:
    # With DAGSTER_HOME set (the Makefile sets it) runs are recorded where `dagster dev` shows them.
    try:
        return dg.DagsterInstance.get()
    except (dg.DagsterInvariantViolationError, DagsterHomeNotSetError):
        # Without DAGSTER_HOME (outside `make demo`) the runs are kept in memory only.
        return dg.DagsterInstance.ephemeral()


def _seed_demo(paths: PathsSettings, first: dt.date, last: dt.date, scale: float) -> None:
    already = seeded_days(paths.demo_erp_dir)
    start = min(first, already[-1] + dt.timedelta(days=1)) if already else first
    if start <= last:
        result = seed(paths.demo_erp_dir, start, (last - start).days + 1, scale)
        click.echo(f"Seeded the demo ERP in {paths.demo_erp_dir}: {len(result.seeded_days)} new day(s)")


def _run(job: dg.JobDefinition, instance: dg.DagsterInstance, **kwargs) -> dg.ExecuteInProcessResult:
    started = time.monotonic()
    result = job.execute_in_process(instance=instance, raise_on_error=False, **kwargs)
    status = "succeeded" if result.success else "FAILED"
    click.echo(f"  run {result.run_id} {status} in {time.monotonic() - started:.0f}s")
    return result


def _summary(defs: dg.Definitions, results: list[dg.ExecuteInProcessResult], last: dt.date) -> None:
    spark = defs.resources["spark"].get_session()
    tables = defs.resources["tables"]
    click.echo("\nRows per table:")
    for key in sorted(defs.resolve_all_asset_keys(), key=lambda k: k.path):
        location = tables.location(key)
        count = location.read(spark).count() if location.exists(spark) else 0
        click.echo(f"  {key.to_user_string():32} {count:>10,}")
    evaluations = [e for r in results for e in r.get_asset_check_evaluations()]
    failed = [e for e in evaluations if not e.passed]
    click.echo(f"\nChecks: {len(evaluations) - len(failed)} passed, {len(failed)} failed")
    for e in failed:
        click.echo(f"  {e.severity.value:5} {e.asset_key.to_user_string()} {e.check_name}")
    alerts_location = tables.location(["gold", "sku_alerts"])
    if alerts_location.exists(spark):
        alerts = alerts_location.read(spark).where(F.col("alert_date") == F.lit(last)).collect()
        alerts.sort(key=lambda a: (SEVERITY_RANK.get(a["severity"], 9), -abs(a["deviation_pct"] or 0)))
        click.echo(f"\nSKU alerts for {last}: {len(alerts)}; the top ones:")
        for a in alerts[:5]:
            click.echo(f"  [{a['severity']}] {a['message']}")


@click.command()
@click.option("--days", default=14, show_default=True, help="Days of ERP history, ending yesterday.")
@click.option("--scale", default=0.05, show_default=True, help="Demo volume (1 = about 100,000 order lines a day).")
def quickstart(days: int, scale: float) -> None:
    """Seed the demo ERP, backfill the sales slice, run the nightly job and summarise."""
    from mssql_lakehouse.definitions import build_defs

    settings = LakehouseSettings.from_env()
    paths = settings.paths
    last = dt.date.today() - dt.timedelta(days=1)
    first = last - dt.timedelta(days=days - 1)
    _seed_demo(paths, first, last, scale)
    defs = build_defs(settings)
    instance = _instance()
    job = defs.resolve_job_def("sales_nightly")
    click.echo(f"Backfilling {first}..{last} through the sales slice in one run:")
    backfill = _run(
        job,
        instance,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )
    click.echo(f"Nightly run for {last} (what the schedule at the ERP cut-off requests):")
    nightly = _run(
        job, instance, partition_key=last.isoformat(), tags={"dagster/schedule_name": "sales_nightly_at_erp_cutoff"}
    )
    _summary(defs, [backfill, nightly], last)
    click.echo(f"\nDelta tables: {paths.local_tables_root}")
    click.echo("See the runs and materializations in the Dagster UI: `make dev`, then http://127.0.0.1:3000")
    if not (backfill.success and nightly.success):
        raise SystemExit(1)
