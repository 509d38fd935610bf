"""A Databricks workspace stand-in for tests: the REST endpoints the step launcher uses, on 127.0.0.1.

TEST FIXTURE, not product code. It implements the calls that dagster-databricks'
``DatabricksPySparkStepLauncher`` and the Databricks SDK make for a step, in the
shapes the SDK parses:

- DBFS (``/api/2.0/dbfs/...``): ``create``, ``add-block``, ``close``, ``put``, ``read``,
  ``get-status``, ``list``, ``mkdirs``, ``delete``; files live under ``<root>/dbfs``.
- Jobs (``/api/2.2/jobs/runs/...``): ``submit``, ``get``, ``get-output``, ``cancel``.
- Secrets (``/api/2.0/secrets/get``): what ``dbutils.secrets.get`` reads on the cluster.
- Clusters (``/api/2.1/clusters/get``): the cluster a run used.

Any other request is answered 404 and recorded in ``unknown_requests``; the fixture
fails the test with the method and path, so a launcher that starts calling
something new is noticed rather than silently faked.

A submitted ``spark_python_task`` runs as its own process through ``cluster_driver.py``
(the cluster's driver): fresh environment, DBFS mounted at ``/dbfs`` (paths rewritten
to ``<root>/dbfs``), the cluster's Spark defaults with the Delta jars, the runtime's
libraries (this virtualenv, checked against the run's pinned PyPI libraries), and
``dbutils``/``sc`` globals. Its state and logs come back through the same endpoints.
``cluster_behaviour`` simulates a cluster that never starts or fails to start.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets as token_generator
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mssql_lakehouse.lib.resources import jars
from mssql_lakehouse.lib.resources.spark import DELTA_CONF
from mssql_lakehouse.settings import LakehouseSettings, project_root

DRIVER_SCRIPT = Path(__file__).with_name("cluster_driver.py")
RUNTIME_VERSION = "17.3 (stand-in)"
MAX_BLOCK = 1024 * 1024
KNOWN_CLUSTER = "0101-000000-standin"


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, error_code: str, message: str):
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message


@dataclass
class Run:
    run_id: int
    run_name: str
    task: dict[str, Any]
    cluster_id: str
    timeout_seconds: int
    driver_dir: Path
    submitted: float = field(default_factory=time.time)
    life_cycle: str = "PENDING"
    result: str | None = None
    message: str = "Waiting for cluster"
    process: subprocess.Popen | None = None
    cancelled: bool = False

    @property
    def stdout(self) -> Path:
        return self.driver_dir / "stdout"

    @property
    def stderr(self) -> Path:
        return self.driver_dir / "stderr"


class WorkspaceStandIn:
    """An HTTP server on 127.0.0.1 behaving like a Databricks workspace for the step launcher.

    ``cluster_behaviour``: ``starts`` (default), ``never_starts`` (the run stays PENDING) or
    ``fails_to_start`` (the run ends INTERNAL_ERROR, as when the cloud has no capacity).
    """

    def __init__(
        self,
        root: Path,
        *,
        token: str,
        secret_scopes: dict[str, dict[str, str]] | None = None,
        cluster_behaviour: str = "starts",
    ):
        self.root = root
        self.dbfs_root = root / "dbfs"
        self.dbfs_root.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.secret_scopes = secret_scopes or {}
        self.cluster_behaviour = cluster_behaviour
        self.requests: list[dict[str, Any]] = []
        self.unknown_requests: list[str] = []
        self.runs: dict[int, Run] = {}
        self._cluster_tokens: set[str] = set()
        self._handles: dict[int, Path] = {}
        self._handle_ids = itertools.count(1)
        self._run_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> WorkspaceStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        for run in self.runs.values():
            self._kill(run)
        self._server.shutdown()
        self._server.server_close()

    # ---- routing --------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: dict[str, Any], auth: str) -> Any:
        routes = {
            ("POST", "/api/2.0/dbfs/create"): self._dbfs_create,
            ("POST", "/api/2.0/dbfs/add-block"): self._dbfs_add_block,
            ("POST", "/api/2.0/dbfs/close"): self._dbfs_close,
            ("POST", "/api/2.0/dbfs/put"): self._dbfs_put,
            ("GET", "/api/2.0/dbfs/read"): self._dbfs_read,
            ("GET", "/api/2.0/dbfs/get-status"): self._dbfs_get_status,
            ("GET", "/api/2.0/dbfs/list"): self._dbfs_list,
            ("POST", "/api/2.0/dbfs/mkdirs"): self._dbfs_mkdirs,
            ("POST", "/api/2.0/dbfs/delete"): self._dbfs_delete,
            ("POST", "/api/2.2/jobs/runs/submit"): self._runs_submit,
            ("GET", "/api/2.2/jobs/runs/get"): self._runs_get,
            ("GET", "/api/2.2/jobs/runs/get-output"): self._runs_get_output,
            ("POST", "/api/2.2/jobs/runs/cancel"): self._runs_cancel,
            ("GET", "/api/2.0/secrets/get"): self._secrets_get,
            ("GET", "/api/2.1/clusters/get"): self._clusters_get,
        }
        self.requests.append({"method": method, "path": path, "query": query, "body": body})
        route = routes.get((method, path))
        if route is None:
            self.unknown_requests.append(f"{method} {path}")
            raise ApiError(HTTPStatus.NOT_FOUND, "ENDPOINT_NOT_FOUND", f"stand-in does not implement {method} {path}")
        cluster_call = path == "/api/2.0/secrets/get" and auth.removeprefix("Bearer ") in self._cluster_tokens
        if auth != f"Bearer {self.token}" and not cluster_call:
            raise ApiError(HTTPStatus.UNAUTHORIZED, "UNAUTHENTICATED", "Invalid access token.")
        with self._lock:
            return route(query if method == "GET" else body)

    # ---- DBFS -----------------------------------------------------------------------------

    def local_path(self, dbfs_path: str) -> Path:
        """``/x/y``, ``dbfs:/x/y`` or ``/dbfs/x/y`` -> ``<root>/dbfs/x/y``."""
        path = dbfs_path.removeprefix("dbfs:").removeprefix("//")
        if path.startswith("/dbfs/"):
            path = path[len("/dbfs") :]
        parts = [p for p in path.split("/") if p]
        if not path.startswith("/") or any(p in (".", "..") for p in parts):
            raise ApiError(HTTPStatus.BAD_REQUEST, "INVALID_PARAMETER_VALUE", f"Path must be absolute: {dbfs_path}")
        return self.dbfs_root.joinpath(*parts)

    def _existing(self, dbfs_path: str) -> Path:
        local = self.local_path(dbfs_path)
        if not local.exists():
            raise ApiError(
                HTTPStatus.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", f"No file or directory exists on path {dbfs_path}."
            )
        return local

    def _dbfs_create(self, body: dict) -> dict:
        local = self.local_path(body["path"])
        if local.exists() and not body.get("overwrite"):
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "RESOURCE_ALREADY_EXISTS",
                f"A file or directory already exists at {body['path']}",
            )
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(b"")
        handle = next(self._handle_ids)
        self._handles[handle] = local
        return {"handle": handle}

    def _dbfs_add_block(self, body: dict) -> dict:
        local = self._handle(body["handle"])
        block = base64.b64decode(body["data"])
        if len(block) > MAX_BLOCK:
            raise ApiError(HTTPStatus.BAD_REQUEST, "MAX_BLOCK_SIZE_EXCEEDED", "The block of data exceeds 1MB.")
        with local.open("ab") as handle:
            handle.write(block)
        return {}

    def _dbfs_close(self, body: dict) -> dict:
        self._handle(body["handle"])
        del self._handles[body["handle"]]
        return {}

    def _handle(self, handle: int) -> Path:
        if handle not in self._handles:
            raise ApiError(HTTPStatus.BAD_REQUEST, "INVALID_STATE", f"Unknown or closed handle {handle}")
        return self._handles[handle]

    def _dbfs_put(self, body: dict) -> dict:
        local = self.local_path(body["path"])
        if local.exists() and not body.get("overwrite"):
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "RESOURCE_ALREADY_EXISTS",
                f"A file or directory already exists at {body['path']}",
            )
        contents = base64.b64decode(body.get("contents", ""))
        if len(contents) > MAX_BLOCK:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, "MAX_BLOCK_SIZE_EXCEEDED", "put is limited to 1MB; use create/add-block"
            )
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(contents)
        return {}

    def _dbfs_read(self, query: dict) -> dict:
        local = self._existing(query["path"])
        if local.is_dir():
            raise ApiError(HTTPStatus.BAD_REQUEST, "INVALID_PARAMETER_VALUE", f"{query['path']} is a directory")
        offset, length = int(query.get("offset", 0)), int(query.get("length", MAX_BLOCK))
        if length > MAX_BLOCK:
            raise ApiError(HTTPStatus.BAD_REQUEST, "INVALID_PARAMETER_VALUE", "length must be at most 1MB")
        with local.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(length)
        return {"bytes_read": len(data), "data": base64.b64encode(data).decode()}

    def _status(self, dbfs_path: str, local: Path) -> dict:
        stat = local.stat()
        return {
            "path": dbfs_path,
            "is_dir": local.is_dir(),
            "file_size": 0 if local.is_dir() else stat.st_size,
            "modification_time": int(stat.st_mtime * 1000),
        }

    def _dbfs_get_status(self, query: dict) -> dict:
        return self._status(query["path"], self._existing(query["path"]))

    def _dbfs_list(self, query: dict) -> dict:
        local = self._existing(query["path"])
        base = query["path"].rstrip("/")
        entries = sorted(local.iterdir()) if local.is_dir() else [local]
        return {"files": [self._status(f"{base}/{p.name}" if local.is_dir() else base, p) for p in entries]}

    def _dbfs_mkdirs(self, body: dict) -> dict:
        self.local_path(body["path"]).mkdir(parents=True, exist_ok=True)
        return {}

    def _dbfs_delete(self, body: dict) -> dict:
        local = self.local_path(body["path"])
        if local.is_dir():
            if any(local.iterdir()) and not body.get("recursive"):
                raise ApiError(HTTPStatus.BAD_REQUEST, "IO_ERROR", f"{body['path']} is a non-empty directory")
            shutil.rmtree(local)
        elif local.exists():
            local.unlink()
        return {}

    # ---- Jobs -----------------------------------------------------------------------------

    def _runs_submit(self, body: dict) -> dict:
        tasks = body.get("tasks") or []
        if len(tasks) != 1 or "spark_python_task" not in tasks[0]:
            raise ApiError(HTTPStatus.BAD_REQUEST, "INVALID_PARAMETER_VALUE", "stand-in runs one spark_python_task")
        task = tasks[0]
        python_file = task["spark_python_task"]["python_file"]
        if not python_file.startswith("dbfs:/") or not self.local_path(python_file).is_file():
            raise ApiError(
                HTTPStatus.BAD_REQUEST, "INVALID_PARAMETER_VALUE", f"python_file {python_file} does not exist"
            )
        cluster_id = self._cluster_for(task)
        run_id = next(self._run_ids)
        run = Run(
            run_id=run_id,
            run_name=body.get("run_name") or "Untitled",
            task=task,
            cluster_id=cluster_id,
            timeout_seconds=int(body.get("timeout_seconds") or 0),
            driver_dir=self.root / "clusters" / f"run-{run_id}",
        )
        run.driver_dir.mkdir(parents=True)
        self.runs[run_id] = run
        threading.Thread(target=self._lifecycle, args=(run,), daemon=True).start()
        return {"run_id": run_id}

    def _cluster_for(self, task: dict) -> str:
        if task.get("existing_cluster_id"):
            if task["existing_cluster_id"] != KNOWN_CLUSTER:
                raise ApiError(
                    HTTPStatus.BAD_REQUEST,
                    "INVALID_PARAMETER_VALUE",
                    f"Cluster {task['existing_cluster_id']} does not exist",
                )
            return KNOWN_CLUSTER
        spec = task.get("new_cluster") or {}
        if not spec.get("spark_version") or not (spec.get("node_type_id") or spec.get("instance_pool_id")):
            raise ApiError(
                HTTPStatus.BAD_REQUEST, "INVALID_PARAMETER_VALUE", "new_cluster needs spark_version and a node type"
            )
        if "num_workers" not in spec and "autoscale" not in spec:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, "INVALID_PARAMETER_VALUE", "new_cluster needs num_workers or autoscale"
            )
        return f"job-cluster-{token_generator.token_hex(4)}"

    def _run_json(self, run: Run) -> dict:
        state = {"life_cycle_state": run.life_cycle, "state_message": run.message}
        if run.result:
            state["result_state"] = run.result
        cluster = {"cluster_id": run.cluster_id}
        return {
            "run_id": run.run_id,
            "run_name": run.run_name,
            "run_page_url": f"{self.url}/#job/runs/{run.run_id}",
            "state": state,
            "cluster_instance": cluster,
            "tasks": [
                {"run_id": run.run_id, "task_key": run.task["task_key"], "state": state, "cluster_instance": cluster}
            ],
        }

    def _run(self, query_or_body: dict) -> Run:
        run = self.runs.get(int(query_or_body["run_id"]))
        if run is None:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, "INVALID_PARAMETER_VALUE", f"Run {query_or_body['run_id']} does not exist."
            )
        return run

    def _runs_get(self, query: dict) -> dict:
        return self._run_json(self._run(query))

    def _runs_get_output(self, query: dict) -> dict:
        run = self._run(query)
        output: dict[str, Any] = {"metadata": self._run_json(run)}
        if run.stdout.exists():
            output["logs"] = run.stdout.read_text(errors="replace")[-50_000:]
        if run.result == "FAILED" and run.stderr.exists():
            trace = run.stderr.read_text(errors="replace").strip()
            output["error"] = trace.splitlines()[-1] if trace else run.message
            output["error_trace"] = trace[-20_000:]
        return output

    def _runs_cancel(self, body: dict) -> dict:
        run = self._run(body)
        if run.life_cycle in ("TERMINATED", "INTERNAL_ERROR"):
            return {}  # cancelling a finished run changes nothing
        run.cancelled = True
        self._kill(run)
        run.life_cycle, run.result, run.message = "TERMINATED", "CANCELED", "Run cancelled by the user."
        return {}

    def _secrets_get(self, query: dict) -> dict:
        value = self.secret_scopes.get(query["scope"], {}).get(query["key"])
        if value is None:
            raise ApiError(
                HTTPStatus.NOT_FOUND,
                "RESOURCE_DOES_NOT_EXIST",
                f"Secret does not exist with scope: {query['scope']} and key: {query['key']}",
            )
        return {"key": query["key"], "value": base64.b64encode(value.encode()).decode()}

    def _clusters_get(self, query: dict) -> dict:
        if not any(r.cluster_id == query["cluster_id"] for r in self.runs.values()):
            raise ApiError(
                HTTPStatus.BAD_REQUEST, "INVALID_PARAMETER_VALUE", f"Cluster {query['cluster_id']} does not exist"
            )
        return {"cluster_id": query["cluster_id"], "state": "RUNNING", "spark_version": RUNTIME_VERSION}

    # ---- a run's life ---------------------------------------------------------------------

    def _lifecycle(self, run: Run) -> None:
        if self.cluster_behaviour == "never_starts":
            run.message = "Waiting for cluster: no instances of the requested node type are available"
            return  # PENDING until cancelled
        if self.cluster_behaviour == "fails_to_start":
            time.sleep(0.2)
            run.life_cycle = "INTERNAL_ERROR"
            run.message = f"Cluster {run.cluster_id} was terminated. Reason: CLOUD_PROVIDER_LAUNCH_FAILURE"
            return
        problem = _library_problem(run.task.get("libraries") or [])
        if problem:
            run.life_cycle, run.message = "INTERNAL_ERROR", f"Library installation failed: {problem}"
            return
        command, env = self._driver_command(run)
        with run.stdout.open("wb") as out, run.stderr.open("wb") as err:
            if run.cancelled:
                return
            run.process = subprocess.Popen(command, env=env, cwd=run.driver_dir, stdout=out, stderr=err)
            run.life_cycle, run.message = "RUNNING", "In run"
            while run.process.poll() is None:
                if run.timeout_seconds and time.time() - run.submitted > run.timeout_seconds:
                    self._kill(run)
                    run.life_cycle, run.result = "TERMINATED", "TIMEDOUT"
                    run.message = f"Run timed out after {run.timeout_seconds} seconds."
                    return
                time.sleep(0.1)
        if run.result is None:
            ok = run.process.returncode == 0
            run.life_cycle, run.result = "TERMINATED", "SUCCESS" if ok else "FAILED"
            run.message = "" if ok else "Workload failed, see run output for details"

    def _driver_command(self, run: Run) -> tuple[list[str], dict[str, str]]:
        """The driver process: python (the runtime's) running the task with DBFS paths mounted."""
        task = run.task["spark_python_task"]
        mounted = [
            str(self.local_path(p)) if p.startswith(("/dbfs/", "dbfs:/")) else p for p in task.get("parameters", [])
        ]
        conf_dir = run.driver_dir / "conf"
        conf_dir.mkdir()
        (conf_dir / "spark-defaults.conf").write_text(
            "".join(f"{k} {v}\n" for k, v in _cluster_spark_conf(run.driver_dir).items())
        )
        cluster_token = token_generator.token_urlsafe(16)
        self._cluster_tokens.add(cluster_token)
        env = {name: os.environ[name] for name in ("PATH", "JAVA_HOME", "LANG", "LC_ALL") if name in os.environ}
        env.update(
            {
                "HOME": str(run.driver_dir),
                "TMPDIR": str(run.driver_dir),
                "DATABRICKS_RUNTIME_VERSION": RUNTIME_VERSION,
                "SPARK_CONF_DIR": str(conf_dir),
                "PYSPARK_PYTHON": sys.executable,
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "STANDIN_WORKSPACE_URL": self.url,
                "STANDIN_CLUSTER_TOKEN": cluster_token,
                "STANDIN_DRIVER_REPORT": str(run.driver_dir / "driver_report.json"),
                "STANDIN_HOST_CHECKOUT": str(project_root()),
            }
        )
        # -P: like a cluster, the driver does not see the folder the script came from.
        command = [sys.executable, "-P", str(DRIVER_SCRIPT), str(self.local_path(task["python_file"])), *mounted]
        return command, env

    def _kill(self, run: Run) -> None:
        if run.process is not None and run.process.poll() is None:
            run.process.kill()
            run.process.wait()

    def driver_report(self, run_id: int) -> dict[str, Any]:
        """What the driver recorded about itself (module origins, digests of its environment)."""
        return json.loads((self.runs[run_id].driver_dir / "driver_report.json").read_text())

    def wait_until_finished(self, timeout: float = 30) -> None:
        """Wait for runs the launcher stopped polling (cancelled or abandoned) to end."""
        deadline = time.time() + timeout
        while time.time() < deadline and any(r.process and r.process.poll() is None for r in self.runs.values()):
            time.sleep(0.1)


def _library_problem(libraries: list[dict]) -> str | None:
    """The runtime image is this virtualenv: a pinned library it cannot provide fails the install."""
    for library in libraries:
        if set(library) != {"pypi"}:
            return f"stand-in installs only PyPI libraries, not {library}"
        spec = library["pypi"]["package"]
        name, sep, version = spec.partition("==")
        name = name.split("[")[0]
        if not sep:
            return f"{spec} is not pinned to a version"
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            return f"{spec}: no such package in the runtime"
        if installed != version:
            return f"{spec}: the runtime has {name}=={installed}"
    return None


def _cluster_spark_conf(driver_dir: Path) -> dict[str, str]:
    """spark-defaults.conf of the stand-in cluster: local Spark with Delta, from the project's jar cache."""
    cache = LakehouseSettings.from_env().paths.jar_cache_dir
    cached = jars.cached_jars(cache, jars.local_coordinates())
    if not cached:
        raise RuntimeError(f"The stand-in cluster needs the Spark jars cached in {cache}; start local Spark once")
    return {
        **DELTA_CONF,
        "spark.jars": ",".join(cached),
        "spark.master": "local[1]",
        "spark.driver.memory": "1g",
        # Short-lived driver on a small machine: start fast rather than optimise long jobs.
        "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1",
        "spark.databricks.delta.snapshotPartitions": "1",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "1",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "1",
        "spark.default.parallelism": "1",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": str(driver_dir / "spark-warehouse"),
    }


def _handler_for(standin: WorkspaceStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
                payload = standin.handle(
                    method, url.path, dict(parse_qsl(url.query)), body, self.headers.get("Authorization", "")
                )
                status = HTTPStatus.OK
            except ApiError as error:
                status, payload = error.status, {"error_code": error.error_code, "message": error.message}
            except (KeyError, ValueError) as error:
                status = HTTPStatus.BAD_REQUEST
                payload = {"error_code": "INVALID_PARAMETER_VALUE", "message": f"bad request: {error!r}"}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def log_message(self, *args) -> None:
            pass

    return Handler
