"""The `mssql-lakehouse` command line."""

import warnings

import click
import dagster as dg

from mssql_lakehouse.cli.audit import audit
from mssql_lakehouse_demo.cli.demo import demo
from mssql_lakehouse_demo.cli.quickstart import quickstart


@click.group()
def main() -> None:
    """Microsoft SQL Server to Delta Lake, orchestrated by Dagster."""
    # We pin Dagster and use its beta parameters (backfill policies) on purpose; the notices are noise here.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)


main.add_command(audit)
main.add_command(demo)
main.add_command(quickstart)
