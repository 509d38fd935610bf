"""``mssql-lakehouse class-archive``: build the class archive local Spark starts faster with."""

import time

import click

from mssql_lakehouse.lib.resources import class_archive as archive
from mssql_lakehouse.settings import LakehouseSettings


@click.command("class-archive")
def class_archive() -> None:
    """Build local Spark's class archive, once for its jars and JDK (make setup runs this)."""
    paths = LakehouseSettings.from_env().paths
    target = archive.archive_path(paths)
    if target.exists():
        click.echo(f"Local Spark's class archive is built: {target}")
        return
    click.echo("Building local Spark's class archive (once; about a minute) ...")
    started = time.monotonic()
    try:
        archive.build(paths)
    except RuntimeError as error:
        # Without the archive local Spark starts as it did before it: slower, not wrong.
        click.echo(f"Could not build the class archive; local Spark starts without it. {error}", err=True)
        return
    click.echo(f"Built {target} in {time.monotonic() - started:.0f} s")
