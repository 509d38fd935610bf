"""`mssql-lakehouse quickstart`: run the main job on this machine and summarise what landed."""

from __future__ import annotations

import datetime as dt

import click
import dagster as dg

from mssql_lakehouse.settings import LocalPaths


def _instance() -> dg.DagsterInstance:
    # With DAGSTER_HOME set (the Makefile sets it) runs are recorded where `dagster dev` shows them.
    try:
        return dg.DagsterInstance.get()
    except dg.DagsterInvariantViolationError:
        return dg.DagsterInstance.ephemeral()


@click.command()
@click.option("--days", default=3, show_default=True, help="How many days, ending yesterday, to backfill.")
def quickstart(days: int) -> None:
    """Backfill the example asset through the Delta IO manager in one run."""
    from mssql_lakehouse.definitions import defs

    end = dt.date.today() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=_instance(),
        tags={
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
        },
    )
    click.echo(f"Run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        rows = materialization.metadata.get("dagster/row_count")
        click.echo(f"  {materialization.asset_key.to_user_string()} {materialization.partition}: {rows.value if rows else '?'} rows")
    click.echo(f"Tables are under {LocalPaths.from_env().tables_root}")
    click.echo("Open the UI with `make dev` (dagster dev) to see the materializations.")
    if not result.success:
        raise SystemExit(1)
