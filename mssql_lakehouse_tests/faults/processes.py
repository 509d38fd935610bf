"""Real ``dagster asset materialize`` processes on one lakehouse: run side by side, or killed mid-write.

Each process is a new session (process group), so SIGKILL reaches its Spark JVM too: the JVM is the
process that writes Delta files, and killing only the Python parent would let it finish its commit.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).parent / "dagster")
LAKEHOUSE_CLI = str(Path(sys.executable).parent / "mssql-lakehouse")


def environment(home: Path, dagster_home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The shell's environment without settings that would point the lakehouse elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "MSSQL_", "DAGSTER_"))}
    env.update(LAKEHOUSE_HOME=str(home), DAGSTER_HOME=str(dagster_home), **(extra or {}))
    return env


@dataclass
class Materialization:
    """One ``dagster asset materialize`` process and the file its output goes to."""

    popen: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = 900) -> int:
        return self.popen.wait(timeout)

    def wait_success(self, timeout: float = 900) -> None:
        code = self.wait(timeout)
        assert code == 0, f"exit {code}:\n{self.output()[-4000:]}"

    def kill(self) -> None:
        """SIGKILL the whole process group (the CLI and its Spark JVM) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(60)


def dagster_instance_home(dagster_home: Path) -> Path:
    """A Dagster instance as ``make setup`` makes one: the repository's dagster.yaml, the serial pools limited."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    subprocess.run(
        [LAKEHOUSE_CLI, "pools"],
        env=environment(dagster_home.parent, dagster_home),
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return dagster_home


def start_materialize(
    home: Path,
    select: str,
    partition: str | None = None,
    *,
    partition_range: tuple[str, str] | None = None,
    name: str = "run",
    extra_env: Mapping[str, str] | None = None,
    dagster_home: Path | None = None,
) -> Materialization:
    """Start ``dagster asset materialize --select <select>`` on the lakehouse at ``home``.

    The process uses the Dagster instance at ``dagster_home`` (see ``dagster_instance_home``), or one
    of its own under ``home``, as two users' shells would.
    """
    dagster_home = dagster_home or dagster_instance_home(home / f"dagster_home_{name}")
    command = [DAGSTER, "asset", "materialize", "-m", "mssql_lakehouse.definitions", "--select", select]
    if partition is not None:
        command += ["--partition", partition]
    if partition_range is not None:
        command += ["--partition-range", f"{partition_range[0]}...{partition_range[1]}"]
    log = home / f"{name}.log"
    with log.open("w") as out:
        popen = subprocess.Popen(
            command,
            cwd=REPO,
            env=environment(home, dagster_home, extra_env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Materialization(popen, log)


def committed_files(table: Path) -> set[str]:
    """Every data file any commit of the table added (paths relative to the table, as in the log)."""
    files: set[str] = set()
    log = table / "_delta_log"
    if not log.is_dir():
        return files
    for commit in sorted(log.glob("*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                files.add(unquote(action["add"]["path"]))  # the log URL-encodes partition values
    return files


def data_files(table: Path) -> set[str]:
    """Every parquet file under the table folder, relative to it (the log and change feed aside)."""
    if not table.is_dir():
        return set()
    found = set()
    for folder, dirs, names in os.walk(table):
        dirs[:] = [d for d in dirs if d not in ("_delta_log", "_change_data")]
        for file in names:
            if file.endswith(".parquet"):
                found.add(os.path.relpath(os.path.join(folder, file), table))
    return found


def kill_during_write(run: Materialization, table: Path, timeout: float = 600) -> set[str]:
    """SIGKILL ``run`` as soon as a data file of ``table`` appears that no commit references yet.

    That moment is inside a Delta write: the files are being written and the commit that would add
    them is not made. Commits without data files (a table created empty first) do not count. Returns
    the uncommitted files seen; the caller asserts that they stay unreferenced (the kill came before
    the commit).
    """
    before = data_files(table)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.popen.poll() is not None:
            raise AssertionError(
                f"the run ended (exit {run.popen.returncode}) before writing {table}:\n{run.output()[-3000:]}"
            )
        new = data_files(table) - before
        pending = new - committed_files(table) if new else set()
        if pending:
            run.kill()
            return pending
        before |= new
        time.sleep(0.002)
    run.kill()
    raise AssertionError(f"no write to {table} within {timeout} s")


def uncommitted_files(table: Path, files: Sequence[str] | set[str]) -> set[str]:
    return set(files) - committed_files(table)


def kill_before_commit(start: Callable[[int], Materialization], table: Path, attempts: int = 2) -> set[str]:
    """Start a run with ``start(attempt)`` and SIGKILL it inside a write of ``table``, before its commit.

    The poll that sees the files and the kill are a few microseconds apart; should the commit land
    between them, that attempt did not test a crash mid-write, so the scenario starts again (the
    caller's ``start`` takes its "before" picture anew). Returns the files the killed write left.
    """
    for attempt in range(1, attempts + 1):
        run = start(attempt)
        new = kill_during_write(run, table)
        if uncommitted_files(table, new) == new:
            return new
    raise AssertionError(f"the commit of {table} landed before the kill in all {attempts} attempts")
