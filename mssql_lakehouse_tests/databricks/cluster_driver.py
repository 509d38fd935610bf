"""The driver of a stand-in Databricks cluster (TEST FIXTURE): runs one ``spark_python_task``.

Started by ``workspace_standin.py`` as ``python -P cluster_driver.py <python_file> <parameters...>``
with DBFS paths already mounted. Like a Databricks driver it gives the task the
globals ``dbutils`` (secrets read from the workspace) and ``sc`` (the Spark context,
started on first use from the cluster's ``spark-defaults.conf``, which carries Delta).
It imports nothing from this project: the task must bring its code with it.
"""

import base64
import hashlib
import importlib.abc
import importlib.machinery
import json
import os
import runpy
import sys
import urllib.error
import urllib.parse
import urllib.request


class _HostCheckoutIsNotMounted(importlib.abc.MetaPathFinder):
    """The launching machine's checkout does not exist on a cluster; on this machine it does.

    Dagster adds the code location's working directory (the checkout) to ``sys.path`` before
    importing the step's code; a real cluster finds nothing there, so neither may this driver.
    """

    def __init__(self, checkout: str):
        self.checkout = os.path.realpath(checkout)

    def find_spec(self, name, path=None, target=None):
        if path is not None:
            return None  # submodules follow their package, wherever it came from
        visible = [p for p in sys.path if os.path.realpath(p or ".") != self.checkout]
        spec = importlib.machinery.PathFinder.find_spec(name, visible)
        if spec is None and importlib.machinery.PathFinder.find_spec(name, [self.checkout]) is not None:
            raise ModuleNotFoundError(
                f"No module named {name!r} (the launching machine's checkout is not on the cluster)", name=name
            )
        return spec


def _forget_the_launching_machine() -> None:
    # No editable install of the project either: its code must come from the uploaded package.
    sys.meta_path[:] = [f for f in sys.meta_path if not str(getattr(f, "__module__", "")).startswith("__editable__")]
    sys.path_hooks[:] = [h for h in sys.path_hooks if not str(getattr(h, "__module__", "")).startswith("__editable__")]
    sys.path_importer_cache.clear()
    sys.meta_path.insert(0, _HostCheckoutIsNotMounted(os.environ["STANDIN_HOST_CHECKOUT"]))


class _Secrets:
    def get(self, scope: str, key: str) -> str:
        query = urllib.parse.urlencode({"scope": scope, "key": key})
        request = urllib.request.Request(
            f"{os.environ['STANDIN_WORKSPACE_URL']}/api/2.0/secrets/get?{query}",
            headers={"Authorization": f"Bearer {os.environ['STANDIN_CLUSTER_TOKEN']}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                payload = json.load(response)
        except urllib.error.HTTPError as error:
            raise RuntimeError(json.loads(error.read() or b"{}").get("message", str(error))) from None
        return base64.b64decode(payload["value"]).decode()


class _DbUtils:
    secrets = _Secrets()


class _LazySparkContext:
    """``sc``: the cluster's SparkContext, started when first touched."""

    def __getattr__(self, name):
        from pyspark.sql import SparkSession

        return getattr(SparkSession.builder.getOrCreate().sparkContext, name)


def _report() -> None:
    origins = {
        name: getattr(sys.modules.get(name), "__file__", None) for name in ("mssql_lakehouse", "mssql_lakehouse_tests")
    }
    digests = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in os.environ.items()}
    with open(os.environ["STANDIN_DRIVER_REPORT"], "w") as handle:
        json.dump({"module_origins": origins, "env_sha256": digests}, handle)


def main() -> None:
    python_file, parameters = sys.argv[1], sys.argv[2:]
    _forget_the_launching_machine()
    sys.argv = [python_file, *parameters]
    try:
        runpy.run_path(
            python_file, init_globals={"dbutils": _DbUtils(), "sc": _LazySparkContext()}, run_name="__main__"
        )
    finally:
        _report()
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()


if __name__ == "__main__":
    main()
