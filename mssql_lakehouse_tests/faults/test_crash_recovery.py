"""A run killed with SIGKILL in the middle of a Delta write, then run again.

Each scenario starts ``dagster asset materialize`` as its own process on a lakehouse, kills its
process group (the CLI and its Spark JVM) when the target table's new data files exist and no
commit references them yet, and then checks what a reader sees, with the ``deltalake`` package:
every table is readable, the one being written is at its previous version with its previous rows,
any other is at its previous version or at a complete new one (equal to a clean run's), and no
reader sees the killed write's files. Where a step writes several things, the standalone check of
the in-between state flags it. A re-run of the same partitions then gives the tables one clean run
gives (the clean run is another lakehouse, run in this process).

Covered: a MERGE (``silver/sales_orders``), a ``replaceWhere`` overwrite (``bronze/sales_order_header``),
SCD2 (killed in the history write, and in the SCD1 write after the history committed) and the
finance close (killed in the close write, and in the archive write after the close committed).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from mssql_lakehouse.defs.customer_360 import checks as customer_360_checks
from mssql_lakehouse.defs.customer_360 import common as customer_360
from mssql_lakehouse.defs.customer_360.checks import CHANGES, CUSTOMERS, HISTORY
from mssql_lakehouse.defs.finance import checks as finance_checks
from mssql_lakehouse.defs.finance import gold as finance_gold
from mssql_lakehouse.defs.sales import bronze as sales_bronze
from mssql_lakehouse.defs.sales import silver as sales_silver
from mssql_lakehouse_demo import seed
from mssql_lakehouse_tests.faults.processes import (
    Materialization,
    committed_files,
    kill_before_commit,
    start_materialize,
)
from mssql_lakehouse_tests.isolated_lakehouse import IsolatedLakehouse, isolated_lakehouses

SCALE = 0.01
DAY1, DAY2 = "2026-11-02", "2026-11-03"
PERIOD = "2026-11"
CLOSE = finance_gold.FINANCIAL_CLOSE
# Columns a run stamps with its own time or id: the only ones a re-run may change.
RUN_STAMPS = frozenset({"_extracted_at", "extracted_at", "_ingested_at", "dagster_run_id", "source_extracted_at"})
# What numbers a close rather than what it reports.
CLOSE_REGISTER = frozenset({"close_number", "restatement"})

CUSTOMER_DAY = dg.AssetSelection.assets(CHANGES, customer_360.QUARANTINE, HISTORY, CUSTOMERS)
SALES_BRONZE = dg.AssetSelection.groups("sales") & dg.AssetSelection.key_prefixes(["bronze"])
JOBS = [
    dg.define_asset_job("days", selection=dg.AssetSelection.groups("sales") | CUSTOMER_DAY),
    dg.define_asset_job(
        "bronze_day", selection=SALES_BRONZE | dg.AssetSelection.assets(CHANGES, customer_360.QUARANTINE)
    ),
    dg.define_asset_job("customer_dimensions", selection=dg.AssetSelection.assets(HISTORY, CUSTOMERS)),
    dg.define_asset_job(
        "finance_ledger", selection=dg.AssetSelection.groups("finance") - dg.AssetSelection.assets(CLOSE)
    ),
    dg.define_asset_job(
        "scd1_check", selection=dg.AssetSelection.checks(customer_360_checks.matches_history_current_rows)
    ),
    dg.define_asset_job("archive_check", selection=dg.AssetSelection.checks(finance_checks.every_close_archived)),
]


Snapshot = dict[Path, tuple[int, list]]


def rows(table: Path, drop: frozenset[str] = RUN_STAMPS) -> list:
    """A table's rows as the ``deltalake`` reader sees them, sorted, without the columns in ``drop``."""
    data = DeltaTable(str(table)).to_pyarrow_table()
    data = data.drop_columns([c for c in data.column_names if c in drop])
    return sorted((tuple(sorted(r.items())) for r in data.to_pylist()), key=repr)


def delta_tables(home: Path) -> list[Path]:
    """Every Delta table of a lakehouse: the tables and the close archives (relative to ``home``)."""
    found = []
    for root in ("tables", "archive"):
        for folder, dirs, _ in os.walk(home / root):
            if "_delta_log" in dirs:
                if any(Path(folder, "_delta_log").glob("*.json")):  # a table has a commit, not just files
                    found.append(Path(folder).relative_to(home))
                dirs.clear()
    return sorted(found)


class CrashLakehouse(IsolatedLakehouse):
    def run(self, job: str, first: str, last: str | None = None) -> dg.ExecuteInProcessResult:
        if last is None:
            return self.execute(job, partition_key=first)
        return self.execute(
            job, tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
        )

    def check(self, job: str) -> dg.AssetCheckEvaluation:
        [evaluation] = self.execute(job).get_asset_check_evaluations()
        return evaluation

    def snapshot(self) -> Snapshot:
        """Every table's version and full rows (run stamps included: a rewrite shows)."""
        return {
            t: (DeltaTable(str(self.home / t)).version(), rows(self.home / t, frozenset()))
            for t in delta_tables(self.home)
        }

    def table_path(self, key: dg.AssetKey) -> Path:
        return self.home / "tables" / Path(*key.path)

    def crash(self, select: str, partition: str, target: dg.AssetKey | Path) -> tuple[Snapshot, set[str]]:
        """Run ``select`` for ``partition`` as a CLI process and SIGKILL it inside the write of ``target``.

        Returns the tables as they were before the run and the files the killed write left.
        """
        table = self.table_path(target) if isinstance(target, dg.AssetKey) else target
        before: Snapshot = {}

        def start(attempt: int) -> Materialization:
            before.clear()
            before.update(self.snapshot())
            return start_materialize(self.home, select, partition, name=f"{table.name}_{attempt}")

        return before, kill_before_commit(start, table)


def assert_nothing_partial(
    crashed: CrashLakehouse, clean: CrashLakehouse, before: Snapshot, target: Path, orphans: set[str]
) -> None:
    """The table being written is at its previous version (or, new, has no commit with data), and no
    reader sees the killed write's files; every other table is at its previous version or at a complete
    new one, equal to the clean run's."""
    written = target.relative_to(crashed.home)
    assert orphans and not orphans & committed_files(target)
    if DeltaTable.is_deltatable(str(target)):
        table = DeltaTable(str(target))
        assert not {Path(o).name for o in orphans} & {Path(u).name for u in table.file_uris()}
        assert before.get(written, (table.version(), [])) == (table.version(), rows(target, frozenset()))
    else:
        assert written not in before
    for table in delta_tables(crashed.home):
        if table == written:
            continue
        if table in before and before[table][0] == DeltaTable(str(crashed.home / table)).version():
            assert rows(crashed.home / table, frozenset()) == before[table][1], table
        else:
            assert rows(crashed.home / table) == rows(clean.home / table), table


def assert_same_tables(crashed: CrashLakehouse, clean: CrashLakehouse, tables: list[Path]) -> None:
    for table in tables:
        assert rows(crashed.home / table) == rows(clean.home / table), table


@pytest.fixture(scope="module")
def lakehouses(spark, tmp_path_factory) -> Iterator[tuple[CrashLakehouse, CrashLakehouse]]:
    """A lakehouse to crash, holding what comes before each scenario's write (sales and customers of
    day 1, bronze of day 2, the period's ledger), and a copy of its day 1 that runs day 2 and the
    period's close cleanly."""
    with isolated_lakehouses(
        tmp_path_factory,
        spark,
        CrashLakehouse,
        slices=("sales", "customer_360", "finance"),
        jobs=JOBS,
        also_unset=("LAKEHOUSE_ARCHIVE_ROOT", "LAKEHOUSE_FINANCE_GRANTS", "LAKEHOUSE_CATALOG", "LAKEHOUSE_CDC_FEED"),
    ) as make:
        crashed, clean = make("crashed"), make("clean")
        seed(crashed.demo_dir, dt.date.fromisoformat(DAY1), 2, SCALE)
        shutil.copytree(crashed.demo_dir, clean.demo_dir)
        crashed.run("days", DAY1)
        shutil.copytree(crashed.home / "tables", clean.home / "tables")
        clean.run("days", DAY2)
        clean.run("finance_close", PERIOD)
        crashed.run("bronze_day", DAY2)
        crashed.run("finance_ledger", PERIOD)
        yield crashed, clean


def sales_tables(lakehouse: CrashLakehouse) -> list[Path]:
    return [t for t in delta_tables(lakehouse.home) if t.name.startswith(("sales_", "products", "sku_", "daily_sku"))]


def test_a_merge_and_an_overwrite_killed_before_their_commits_change_nothing_and_a_rerun_equals_a_clean_run(lakehouses):
    crashed, clean = lakehouses

    before, orphans = crashed.crash("silver/sales_orders", DAY2, sales_silver.ORDERS)
    assert_nothing_partial(crashed, clean, before, crashed.table_path(sales_silver.ORDERS), orphans)

    # A replay of the day's bronze: replaceWhere over the window.
    before, orphans = crashed.crash("bronze/sales_order_header", DAY2, sales_bronze.HEADER_KEY)
    assert_nothing_partial(crashed, clean, before, crashed.table_path(sales_bronze.HEADER_KEY), orphans)

    crashed.run("sales_nightly", DAY2)
    assert_same_tables(crashed, clean, sales_tables(clean))


def test_scd2_killed_in_either_write_is_flagged_between_them_and_repaired_by_a_rerun(lakehouses):
    crashed, clean = lakehouses
    dimensions = "silver/customers_history,silver/customers"

    before, orphans = crashed.crash(dimensions, DAY2, HISTORY)
    assert_nothing_partial(crashed, clean, before, crashed.table_path(HISTORY), orphans)
    assert crashed.check("scd1_check").passed

    # The next run commits the history; killed in the SCD1 write, it leaves SCD1 behind the history.
    before, orphans = crashed.crash(dimensions, DAY2, CUSTOMERS)
    assert_nothing_partial(crashed, clean, before, crashed.table_path(CUSTOMERS), orphans)
    assert DeltaTable(str(crashed.table_path(HISTORY))).version() > before[Path("tables/silver/customers_history")][0]
    assert not crashed.check("scd1_check").passed

    crashed.run("customer_dimensions", DAY2)
    assert crashed.check("scd1_check").passed
    assert_same_tables(crashed, clean, [Path("tables/silver/customers_history"), Path("tables/silver/customers")])


def close_archive(lakehouse: CrashLakehouse, close_number: int) -> Path:
    return lakehouse.home / "archive" / "financial_close" / f"period={PERIOD}" / f"close={close_number}"


def test_a_close_killed_in_its_write_or_its_archive_is_flagged_and_a_rerun_archives_and_restates_it(lakehouses):
    crashed, clean = lakehouses
    close = Path("tables/gold/financial_close")

    before, orphans = crashed.crash("gold/financial_close", PERIOD, CLOSE)
    assert_nothing_partial(crashed, clean, before, crashed.home / close, orphans)
    assert rows(crashed.home / close) == [], "a close is visible that no run committed"
    assert crashed.check("archive_check").passed

    # The next run commits close 1, as a clean run does; killed while archiving it, it leaves a close
    # without its archive, which the check flags and no reader of the archive sees.
    before, orphans = crashed.crash("gold/financial_close", PERIOD, close_archive(crashed, 1))
    assert_nothing_partial(crashed, clean, before, close_archive(crashed, 1), orphans)
    assert rows(crashed.home / close) == rows(clean.home / close)
    assert not crashed.check("archive_check").passed

    # Close 1 was committed and may have been read: the re-run archives it, and closes the period
    # again as close 2, a restatement with the figures of the clean run's close.
    crashed.run("finance_close", PERIOD)
    assert crashed.check("archive_check").passed
    assert rows(close_archive(crashed, 1)) == rows(clean.home / close)
    figures = RUN_STAMPS | CLOSE_REGISTER
    assert (
        rows(crashed.home / close, figures)
        == rows(close_archive(crashed, 2), figures)
        == rows(clean.home / close, figures)
    )
    assert {r["close_number"] for r in DeltaTable(str(crashed.home / close)).to_pyarrow_table().to_pylist()} == {2}
    # gl_quarantine keeps each rejected entry as JSON, with the extraction time of its run inside.
    for table in [t for t in delta_tables(clean.home) if t.parts[1] != "gold" and t.name.startswith("gl_")]:
        assert rows(crashed.home / table, RUN_STAMPS | {"record"}) == rows(
            clean.home / table, RUN_STAMPS | {"record"}
        ), table
