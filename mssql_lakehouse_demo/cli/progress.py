"""What a person follows while the quickstart runs: one line per step as it finishes, and a live line
while a step runs; Dagster's full log of every run goes to a file instead of the terminal.

The run's events are read from the instance's event log, where Dagster records them as they happen,
by a thread that follows the run while it executes in this process.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

import click
import dagster as dg

QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""Run config that keeps Dagster's console logger out of the terminal: the log file has every event."""

POLL_SECONDS = 0.5


@dataclass
class _Step:
    started: float
    rows: dict[str, int | None] = field(default_factory=dict)
    """Asset -> rows of the run's partitions (the write's own count), None when not known."""
    partitions: set[str] = field(default_factory=set)
    checks_passed: int = 0
    checks_failed: int = 0


def _partitions(keys: set[str]) -> str:
    if not keys:
        return ""
    ordered = sorted(keys)
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}..{ordered[-1]} ({len(ordered)})"


class RunProgress:
    """Follows one run by id: writes each of its events to ``log`` and prints a line per finished step."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, log: TextIO, live: bool | None = None) -> None:
        self._instance = instance
        self._run_id = run_id
        self._log = log
        self._live = sys.stdout.isatty() if live is None else live
        self._cursor: str | None = None
        self._steps: dict[str, _Step] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=f"progress-{run_id[:8]}", daemon=True)
        self._live_line = False

    def __enter__(self) -> RunProgress:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._done.set()
        self._thread.join()
        self._read()  # what the run recorded after the last poll
        self._clear_live_line()
        self._log.flush()

    def _follow(self) -> None:
        while not self._done.wait(POLL_SECONDS):
            self._read()
            self._show_running()

    def _read(self) -> None:
        if not self._instance.has_run(self._run_id):
            return
        while True:
            connection = self._instance.get_records_for_run(self._run_id, cursor=self._cursor)
            for record in connection.records:
                self._on(record.event_log_entry)
            self._cursor = connection.cursor
            if not connection.has_more:
                return

    def _on(self, entry: dg.EventLogEntry) -> None:
        at = dt.datetime.fromtimestamp(entry.timestamp).isoformat(sep=" ", timespec="seconds")
        event = entry.dagster_event
        kind = event.event_type_value if event else "LOG"
        level = logging.getLevelName(entry.level)
        self._log.write(f"{at} {level} {self._run_id[:8]} {entry.step_key or '-'} {kind}: {entry.message}\n")
        if event is None or not entry.step_key:
            return
        if event.event_type == dg.DagsterEventType.STEP_START:
            self._steps[entry.step_key] = _Step(entry.timestamp)
            return
        step = self._steps.setdefault(entry.step_key, _Step(entry.timestamp))
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            if materialization.partition:
                step.partitions.add(materialization.partition)
            # Every partition's materialization of a run carries the count of the run's whole write.
            rows = materialization.metadata.get("dagster/row_count")
            step.rows[materialization.asset_key.to_user_string()] = None if rows is None else int(rows.value)
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            if event.event_specific_data.passed:
                step.checks_passed += 1
            else:
                step.checks_failed += 1
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            self._finished(entry, step, event)

    def _finished(self, entry: dg.EventLogEntry, step: _Step, event: dg.DagsterEvent) -> None:
        self._clear_live_line()
        failed = event.event_type == dg.DagsterEventType.STEP_FAILURE
        parts = [f"{'FAILED' if failed else 'ok':6} {', '.join(sorted(step.rows)) or entry.step_key}"]
        if step.partitions:
            parts.append(_partitions(step.partitions))
        counted = {asset: rows for asset, rows in sorted(step.rows.items()) if rows is not None}
        if len(counted) == 1:
            parts.append(f"{next(iter(counted.values())):,} rows")
        elif counted:
            parts.append(", ".join(f"{asset.rsplit('/', 1)[-1]} {rows:,} rows" for asset, rows in counted.items()))
        parts.append(f"{entry.timestamp - step.started:.1f} s")
        if step.checks_passed or step.checks_failed:
            parts.append(f"checks {step.checks_passed} passed, {step.checks_failed} failed")
        click.echo("    " + " | ".join(parts))
        if failed:
            error = event.event_specific_data.error
            message = error.message.strip().splitlines()[0] if error and error.message.strip() else "see the log"
            click.echo(f"           {message[:200]}")
        self._steps.pop(entry.step_key, None)

    def _show_running(self) -> None:
        if not self._live or not self._steps:
            return
        now = time.time()
        running = ", ".join(f"{key} {now - step.started:.0f}s" for key, step in self._steps.items())
        click.echo(f"\r    ... {running}"[:160].ljust(160), nl=False)
        self._live_line = True

    def _clear_live_line(self) -> None:
        if self._live_line:
            click.echo("\r" + " " * 160 + "\r", nl=False)
            self._live_line = False
