"""A real `dagster dev` (webserver, daemon and code server) over an isolated lakehouse, as `make dev` starts it.

The server runs in its own session (process group) so that stopping it stops the daemon, the code
server and any run process it launched, with their Spark JVMs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus

from mssql_lakehouse_tests.faults.processes import DAGSTER, REPO, dagster_instance_home, environment

FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DagsterDev:
    home: Path
    dagster_home: Path
    url: str
    log: Path
    popen: subprocess.Popen

    @classmethod
    def start(cls, home: Path, dagster_home: Path, log: Path, timeout: float = 180) -> DagsterDev:
        env = environment(home, dagster_instance_home(dagster_home))
        port = _free_port()
        with log.open("w") as out:
            popen = subprocess.Popen(
                [DAGSTER, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = cls(home, dagster_home, f"http://127.0.0.1:{port}", log, popen)
        server._wait_until_serving(timeout)
        return server

    def _wait_until_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.popen.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1)
        raise TimeoutError(f"dagster dev did not serve {self.url} within {timeout:.0f}s; see {self.log}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()

    def instance(self) -> dg.DagsterInstance:
        """The instance the server records its runs in (open it with ``with``)."""
        # The repository's dagster.yaml puts the storage in $DAGSTER_HOME, read when the instance loads.
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DAGSTER_HOME", str(self.dagster_home))
            return dg.DagsterInstance.from_config(str(self.dagster_home))

    def wait_for_backfill(self, backfill_id: str, timeout: float = 600) -> BulkActionStatus:
        """The backfill's status once the daemon is done with it (every run it launched has finished)."""
        deadline = time.monotonic() + timeout
        with self.instance() as instance:
            while True:
                backfill = instance.get_backfill(backfill_id)
                if backfill.status not in (
                    BulkActionStatus.REQUESTED,
                    BulkActionStatus.CANCELING,
                    BulkActionStatus.FAILING,
                ):
                    return backfill.status
                if time.monotonic() > deadline:
                    raise TimeoutError(f"backfill {backfill_id} did not finish within {timeout:.0f}s; see {self.log}")
                time.sleep(3)

    def wait_for_runs(
        self, which: Callable[[dg.DagsterRun], bool], count: int = 1, timeout: float = 600
    ) -> list[dg.DagsterRun]:
        """The first ``count`` runs ``which`` picks, once every one of them has finished."""
        deadline = time.monotonic() + timeout
        with self.instance() as instance:
            while True:
                runs = [r for r in instance.get_runs() if which(r)]
                if len(runs) >= count and all(r.status in FINISHED for r in runs):
                    return runs
                if time.monotonic() > deadline:
                    state = [(r.run_id, r.job_name, r.status.value) for r in runs]
                    raise TimeoutError(f"{count} run(s) did not finish within {timeout:.0f}s: {state}; see {self.log}")
                time.sleep(3)
