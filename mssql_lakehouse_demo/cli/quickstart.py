"""`mssql-lakehouse quickstart`: the four use cases on this machine, against the embedded demo ERP.

Seeds the demo ERP and runs each use case as production runs it, in this process on one Spark
JVM, over the last N business days (ending yesterday on the ERP's clock):

* Customer 360's initial load first: ``bronze/customer_snapshot`` is taken once CDC is on, so the
  ERP is seeded up to the day before the demo's days, read for that capture day, then seeded on.
* Sales: the days backfilled in one run.
* Inventory: every region's export of the last day written to the landing zone (what
  ``mssql-lakehouse demo export-inventory`` does), ingested by the ``inventory`` job in one run,
  then one pass of the ``dr_replication`` job.
* Customer 360: the days' changes, silver SCD2/SCD1 and gold in one run of the job
  ``customer_changes_sensor`` requests (the snapshot's capture day included: its silver run applies it).
* Sales: the nightly run of the last day, as the schedule at the ERP's cut-off requests it
  (after the inventory, so its alerts see the stock positions).
* Finance: the ``finance_close`` job for the last complete month (the ERP holds at least its
  last day), then its audit (``mssql-lakehouse audit close``).

Then it prints the rows per table by use case, the checks, the top SKU alerts and the time taken.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import click
import dagster as dg
from dagster._core.errors import DagsterHomeNotSetError
from dagster._core.utils import make_new_run_id
from pyspark.sql import functions as F

from mssql_lakehouse.lib.io.delta_tables import DeltaLocation
from mssql_lakehouse.lib.sources import MssqlSource
from mssql_lakehouse.settings import LakehouseSettings, PathsSettings
from mssql_lakehouse_demo import seed, seeded_days
from mssql_lakehouse_demo.cli.progress import QUIET_CONSOLE, RunProgress

SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
SETUP = "0 seeding and Spark's start"
SALES = "1 sales"
INVENTORY = "2 inventory and DR replica"
CUSTOMER_360 = "3 Customer 360"
FINANCE = "4 financial close"
USE_CASE_OF_GROUP = {
    "sales": SALES,
    "inventory": INVENTORY,
    "dr": INVENTORY,
    "customer_360": CUSTOMER_360,
    "finance": FINANCE,
}
# Tables the demo may leave empty, and why: the first two always, the deletes with few small days.
LEGITIMATELY_EMPTY = {
    "bronze/customer_changes_quarantine": "every change event of the demo's CDC feed can be applied",
    "bronze/inventory_rejected_files": "the demo's exports are whole, readable files",
    "bronze/sales_order_deletes": "the ERP deleted no order line on these days, likely with small --days and --scale",
}
# Checks the demo data fails on purpose, and why: the demo ERP's deliberately bad rows.
EXPECTED_FAILURES = {
    ("silver/sales_quarantine", "quarantine_count"): "the demo ERP injects bad order lines every day",
    ("silver/gl_entries", "journals_balance"): "the demo ERP posts an unbalanced journal every day",
    ("silver/gl_quarantine", "quarantine_count"): (
        "the demo ERP posts an unbalanced journal and one on the unknown account 9999 every day"
    ),
}


@dataclass
class Demo:
    """The code location, the instance, and what ran: the runs and seconds per use case."""

    defs: dg.Definitions
    instance: dg.DagsterInstance
    log: TextIO
    """Dagster's full log of every run (the terminal gets a line per step)."""
    results: dict[str, list[dg.ExecuteInProcessResult]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, use_case: str, job: str | dg.JobDefinition, **kwargs) -> dg.ExecuteInProcessResult:
        started = time.monotonic()
        job = self.defs.resolve_job_def(job) if isinstance(job, str) else job
        run_id = make_new_run_id()
        with RunProgress(self.instance, run_id, self.log):
            result = job.execute_in_process(
                instance=self.instance, raise_on_error=False, run_id=run_id, run_config=QUIET_CONSOLE, **kwargs
            )
        self.results.setdefault(use_case, []).append(result)
        self.timed(use_case, started)
        status = "succeeded" if result.success else "FAILED"
        click.echo(f"  run {result.run_id} ({job.name}) {status} in {time.monotonic() - started:.0f}s")
        return result

    def timed(self, use_case: str, started: float) -> None:
        """Count the time since ``started`` to the use case."""
        self.seconds[use_case] = self.seconds.get(use_case, 0.0) + time.monotonic() - started

    @property
    def all_results(self) -> list[dg.ExecuteInProcessResult]:
        return [r for results in self.results.values() for r in results]


def _instance() -> dg.DagsterInstance:
    # With DAGSTER_HOME set (the Makefile sets it) runs are recorded where `dagster dev` shows them.
    try:
        return dg.DagsterInstance.get()
    except (dg.DagsterInvariantViolationError, DagsterHomeNotSetError):
        # Without DAGSTER_HOME (outside `make demo`) the runs are kept in memory only.
        return dg.DagsterInstance.ephemeral()


def _day_before(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=1)


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _periods(first: dt.date, last: dt.date) -> list[str]:
    """The reporting periods (``YYYY-MM``) from the month of ``first`` to the month of ``last``."""
    periods, month = [], _month_start(first)
    while month <= last:
        periods.append(month.strftime("%Y-%m"))
        month = _month_start(month + dt.timedelta(days=31))
    return periods


def _seed_demo(paths: PathsSettings, first: dt.date, last: dt.date, scale: float, what: str) -> list[dt.date]:
    """Seed the days up to ``last`` the demo ERP does not hold yet; returns the days it holds."""
    already = seeded_days(paths.demo_erp_dir)
    start = min(first, already[-1] + dt.timedelta(days=1)) if already else first
    if start <= last:
        new = seed(paths.demo_erp_dir, start, (last - start).days + 1, scale).seeded_days
        if new:
            click.echo(f"Seeded the demo ERP in {paths.demo_erp_dir} with {what}: {new[0]}..{new[-1]}")
    return seeded_days(paths.demo_erp_dir)


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def _capture_day(erp: MssqlSource) -> dt.date:
    """The day the snapshot's position was committed: the one partition ``bronze/customer_snapshot`` accepts."""
    from mssql_lakehouse.lib.transforms.customer_changes import CAPTURE_INSTANCE

    _lsn, committed = erp.cdc_snapshot_position(CAPTURE_INSTANCE)
    return committed.date()


def _customer_snapshot(demo: Demo) -> dt.date:
    """Customer 360's initial load, for its capture day; returns that day."""
    from mssql_lakehouse.defs.customer_360.common import SNAPSHOT

    started = time.monotonic()
    capture_day = _capture_day(demo.defs.resources["erp"])
    demo.timed(CUSTOMER_360, started)
    click.echo(
        f"\n[{CUSTOMER_360}] The initial load of the customers (they predate CDC): {SNAPSHOT.to_user_string()} "
        f"for its capture day {capture_day}, when the CDC max LSN was committed:"
    )
    # As materializing it from its page in the UI does: the asset job, this asset, that day.
    assets_job = demo.defs.resolve_implicit_global_asset_job_def()
    demo.run(CUSTOMER_360, assets_job, asset_selection=[SNAPSHOT], partition_key=capture_day.isoformat())
    return capture_day


def _sales_backfill(demo: Demo, first: dt.date, last: dt.date) -> None:
    click.echo(f"\n[{SALES}] Backfilling {first}..{last} through the sales slice in one run:")
    demo.run(SALES, "sales_nightly", tags=_range_tags(first.isoformat(), last.isoformat()))


def _inventory(demo: Demo, settings: LakehouseSettings, last: dt.date) -> None:
    from mssql_lakehouse.defs.inventory.settings import InventoryConfig
    from mssql_lakehouse_demo.inventory_export import export_inventory

    started = time.monotonic()
    spark = demo.defs.resources["spark"].get_session()
    landing = InventoryConfig.from_settings(settings)
    regions = settings.inventory.regions
    click.echo(f"\n[{INVENTORY}] The regions' exports of {last} (mssql-lakehouse demo export-inventory):")
    for region in regions:
        target = Path(landing.landing_dir(region, last.isoformat()))
        written = export_inventory(spark, settings.paths.demo_erp_dir, last, region, target)
        click.echo(f"  {region}: {written}")
    demo.timed(INVENTORY, started)
    click.echo(f"[{INVENTORY}] Ingesting them in one run of the inventory job ({last}, {', '.join(regions)}):")
    demo.run(INVENTORY, "inventory", tags=_range_tags(f"{last}|{regions[0]}", f"{last}|{regions[-1]}"))
    click.echo(f"[{INVENTORY}] One pass of the DR replica to {settings.paths.standby_tables_root}:")
    demo.run(INVENTORY, "dr_replication")


def _customer_changes(demo: Demo, first: dt.date, last: dt.date, capture_day: dt.date) -> None:
    # The snapshot is applied by the silver run of its capture day: the range includes that day.
    first = min(first, capture_day)
    job = demo.defs.resolve_sensor_def("customer_changes_sensor").job_name
    click.echo(f"\n[{CUSTOMER_360}] The changes of {first}..{last} -> silver SCD2/SCD1 -> gold, in one run:")
    if capture_day > last:
        click.echo(f"  (the snapshot's capture day {capture_day} is not over: that day's silver run will apply it)")
    demo.run(CUSTOMER_360, job, tags=_range_tags(first.isoformat(), last.isoformat()))


def _sales_nightly(demo: Demo, last: dt.date) -> None:
    click.echo(f"\n[{SALES}] Nightly run for {last} (what the schedule at the ERP cut-off requests):")
    demo.run(
        SALES,
        "sales_nightly",
        partition_key=last.isoformat(),
        tags={"dagster/schedule_name": "sales_nightly_at_erp_cutoff"},
    )


def _finance(demo: Demo, settings: LakehouseSettings, held: list[dt.date], period_end: dt.date) -> None:
    from mssql_lakehouse.cli.audit import close as audit_close

    partitions_start = dt.date.fromisoformat(settings.business_day.partitions_start)
    *earlier, period = _periods(min(max(held[0], partitions_start), period_end), period_end)
    if held[0] > period_end:
        click.echo(f"\n(The demo ERP in {settings.paths.demo_erp_dir} starts after {period}: its close is empty.)")
    # A period's opening is the close of every earlier one: a month the ERP holds is closed in turn.
    for month in earlier:
        click.echo(f"\n[{FINANCE}] The close of {month} (the ERP holds it; it gives {period} its opening):")
        demo.run(FINANCE, "finance_close", partition_key=month)
    click.echo(f"\n[{FINANCE}] The close of {period}, the last complete month:")
    if demo.run(FINANCE, "finance_close", partition_key=period).success:
        started = time.monotonic()
        click.echo(f"[{FINANCE}] Its audit (mssql-lakehouse audit close --period {period}):")
        click.get_current_context().invoke(audit_close, period=period)
        demo.timed(FINANCE, started)


def _tables(defs: dg.Definitions, settings: LakehouseSettings) -> dict[str, list[tuple[str, DeltaLocation]]]:
    """Use case -> (name, location) of each of its tables, the DR replica's copies included."""
    tables = defs.resources["tables"]
    graph = defs.resolve_asset_graph()
    by_use_case: dict[str, list[tuple[str, DeltaLocation]]] = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.path):
        use_case = USE_CASE_OF_GROUP.get(graph.get(key).group_name)
        # dr/replication is an operation: what it writes is the replica, listed below.
        if use_case and graph.get(key).is_materializable and key.path[0] != "dr":
            by_use_case.setdefault(use_case, []).append((key.to_user_string(), tables.location(key)))
    replica = str(settings.paths.standby_tables_root)
    for name in settings.dr.tables:
        layer, table = name.split("/")
        location = DeltaLocation.for_table(layer, table, tables_root=replica, catalog=None)
        by_use_case.setdefault(INVENTORY, []).append((f"replica of {name}", location))
    return by_use_case


def _latest_evaluations(
    results: Iterable[dg.ExecuteInProcessResult],
) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """The latest result of each check, as its asset's page shows it."""
    latest = {}
    for result in results:
        for evaluation in result.get_asset_check_evaluations():
            latest[(evaluation.asset_key.to_user_string(), evaluation.check_name)] = evaluation
    return latest


def _reason(evaluation: dg.AssetCheckEvaluation, spec_description: str | None) -> str:
    """One line: the check's plain metadata values (what it found), else its description."""
    values = []
    for name, entry in evaluation.metadata.items():
        value = getattr(entry, "value", entry)
        if isinstance(value, bool | int | float | str) and 0 < len(str(value)) <= 60:
            values.append(f"{name}={value}")
    line = ", ".join(values[:6]) or evaluation.description or spec_description or "(no details)"
    return line if len(line) <= 140 else line[:137] + "..."


def _summary(demo: Demo, settings: LakehouseSettings, last: dt.date) -> list[str]:
    """Prints what landed and what the checks found; returns the tables left empty that should hold rows."""
    spark = demo.defs.resources["spark"].get_session()
    graph = demo.defs.resolve_asset_graph()
    unexpectedly_empty = []
    click.echo("\nRows per table, by use case:")
    for use_case, tables in sorted(_tables(demo.defs, settings).items()):
        click.echo(f"  {use_case}")
        for name, location in tables:
            count = location.read(spark).count() if location.exists(spark) else 0
            note = ""
            if count == 0:
                why = LEGITIMATELY_EMPTY.get(name.removeprefix("replica of "))
                note = f"  (empty: {why})" if why else "  (EMPTY: it should hold rows)"
                if not why:
                    unexpectedly_empty.append(name)
            click.echo(f"    {name:42} {count:>8,}{note}")

    latest = _latest_evaluations(demo.all_results)
    failed = {k: e for k, e in latest.items() if not e.passed}
    bad_rows = sum(k in EXPECTED_FAILURES for k in failed)
    click.echo(
        f"\nChecks, the latest result of each: {len(latest) - len(failed)} passed, {len(failed)} failed "
        f"({bad_rows} from the demo's deliberately bad rows, {len(failed) - bad_rows} unexpected)"
    )
    for use_case in sorted(set(USE_CASE_OF_GROUP.values())):
        mine = [k for k, e in latest.items() if USE_CASE_OF_GROUP.get(graph.get(e.asset_key).group_name) == use_case]
        mine_failed = [k for k in mine if k in failed]
        click.echo(f"  {use_case}: {len(mine) - len(mine_failed)} passed, {len(mine_failed)} failed")
        for key in mine_failed:
            evaluation = failed[key]
            spec = graph.get_check_spec(dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name))
            click.echo(f"    {evaluation.severity.value:5} {key[0]} {key[1]}: {_reason(evaluation, spec.description)}")
            why = EXPECTED_FAILURES.get(key)
            if why is None:
                click.echo(f"          NOT expected: {spec.description or 'see the run'}")
            else:
                click.echo(f"          expected (bad rows): {why}")

    alerts_location = demo.defs.resources["tables"].location(["gold", "sku_alerts"])
    if alerts_location.exists(spark):
        alerts = alerts_location.read(spark).where(F.col("alert_date") == F.lit(last)).collect()
        alerts.sort(key=lambda a: (SEVERITY_RANK.get(a["severity"], 9), -abs(a["deviation_pct"] or 0)))
        click.echo(f"\nSKU alerts for {last}: {len(alerts)}; the top ones:")
        for a in alerts[:5]:
            click.echo(f"  [{a['severity']}] {a['message']}")
    return unexpectedly_empty


def _where_next(settings: LakehouseSettings, period: str) -> None:
    click.echo(f"\nDelta tables: {settings.paths.local_tables_root}; DR replica: {settings.paths.standby_tables_root}")
    click.echo("Next, the Dagster UI: `make dev`, then http://127.0.0.1:3000")
    click.echo("  Runs: the runs above, each with its steps, logs and check results")
    click.echo(
        "  Assets: one group per use case (sales, inventory, customer_360, finance, dr); a table's page shows "
        "its partitions, rows, Delta version and checks"
    )
    click.echo(
        "  Automation: switch on sales_nightly_at_erp_cutoff, customer_changes_sensor, "
        "finance_close_after_month_end, dr_replication_schedule; inventory_file_arrival already runs"
    )
    click.echo(f"  The close for auditors: .venv/bin/mssql-lakehouse audit close --period {period}")


@click.command()
@click.option("--days", default=7, show_default=True, help="Business days to run, ending yesterday.")
@click.option("--scale", default=0.02, show_default=True, help="Demo volume (1 = about 100,000 order lines a day).")
def quickstart(days: int, scale: float) -> None:
    """Seed the demo ERP, run the four use cases as production runs them, and summarise."""
    from mssql_lakehouse.definitions import build_defs

    started = time.monotonic()
    settings = LakehouseSettings.from_env()
    paths = settings.paths
    # Business days: "yesterday" on the ERP's clock, whatever the zone of this machine.
    last = _day_before(dt.datetime.now(ZoneInfo(settings.erp_timezone)).date())
    first = last - dt.timedelta(days=days - 1)
    # The finance close needs the last complete month in the ERP (its last day at least), and the
    # snapshot a day before the days.
    period_end = _day_before(_month_start(last + dt.timedelta(days=1)))
    _seed_demo(paths, min(_day_before(first), period_end), _day_before(first), scale, "the days before the demo's")
    log_path = paths.home / "logs" / f"quickstart-{dt.datetime.now():%Y%m%d-%H%M%S}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    click.echo(f"Dagster's full log of the runs: {log_path}")
    demo = Demo(build_defs(settings), _instance(), log_path.open("w"))
    # Spark's warnings would interleave with the step lines; its errors still show.
    demo.defs.resources["spark"].get_session().sparkContext.setLogLevel("ERROR")
    demo.timed(SETUP, started)
    capture_day = _customer_snapshot(demo)
    seeding = time.monotonic()
    held = _seed_demo(paths, first, last, scale, "the demo's days")
    demo.timed(SETUP, seeding)

    _sales_backfill(demo, first, last)
    _inventory(demo, settings, last)
    _customer_changes(demo, first, last, capture_day)
    _sales_nightly(demo, last)
    _finance(demo, settings, held, period_end)

    unexpectedly_empty = _summary(demo, settings, last)
    _where_next(settings, period_end.strftime("%Y-%m"))
    per_use_case = ", ".join(f"{u} {s:.0f}s" for u, s in sorted(demo.seconds.items()))
    click.echo(f"\nTotal wall time: {time.monotonic() - started:.0f}s ({per_use_case})")
    demo.log.close()
    click.echo(f"Dagster's full log of the runs: {log_path}")
    if unexpectedly_empty or not all(r.success for r in demo.all_results):
        raise SystemExit(1)
