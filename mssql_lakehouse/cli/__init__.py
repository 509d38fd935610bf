"""The `mssql-lakehouse` command line."""

import click

from mssql_lakehouse.cli.audit import audit
from mssql_lakehouse.cli.class_archive import class_archive
from mssql_lakehouse.cli.pools import pools
from mssql_lakehouse_demo.cli.demo import demo
from mssql_lakehouse_demo.cli.quickstart import quickstart


@click.group()
def main() -> None:
    """Microsoft SQL Server to Delta Lake, orchestrated by Dagster."""


main.add_command(audit)
main.add_command(class_archive)
main.add_command(demo)
main.add_command(pools)
main.add_command(quickstart)
