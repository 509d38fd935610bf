"""``mssql-lakehouse pools``: limit the pools whose steps must never overlap on the Dagster instance."""

import click
import dagster as dg

from mssql_lakehouse.lib.pools import SERIAL_POOLS, limit_serial_pools


@click.command()
def pools() -> None:
    """Limit the serial pools to one step at a time on the instance at $DAGSTER_HOME."""
    with dg.DagsterInstance.get() as instance:
        if not instance.event_log_storage.supports_global_concurrency_limits:
            raise click.ClickException(
                "this instance's storage keeps no concurrency limits; run `dagster instance migrate` first"
            )
        limit_serial_pools(instance)
    for pool, why in SERIAL_POOLS.items():
        click.echo(f"{pool}: 1 step at a time ({why})")
