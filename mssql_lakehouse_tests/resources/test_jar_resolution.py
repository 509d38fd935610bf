"""A local Spark start keeps the user's terminal for what matters: no Ivy report on the first start
(it fetches the jars from Maven Central), no start-up notices on any start. The first start
downloads the locked jars, and only files whose digest the lock names."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mssql_lakehouse.lib.resources import jars

# A small artifact from Maven Central, resolved as Delta's and the JDBC drivers' jars are.
SMALL = "org.slf4j:slf4j-api:2.0.13"
START = """
from mssql_lakehouse.lib.resources import spark
from mssql_lakehouse.settings import LakehouseSettings
spark.local_spark_session(paths=LakehouseSettings.from_env().paths).stop()
"""
# Without Delta's jars, nothing to compile the project's Delta log store against: the small jar stands in
# for its jar, and Spark starts with that one.
ONLY_SMALL = f"""
from mssql_lakehouse.lib.resources import jars, log_store
jars.local_coordinates = lambda: [{SMALL!r}]
log_store.log_store_jar = lambda cache, jars: jars[0]
"""


def _start(tmp_path: Path, code: str, **env: str) -> str:
    """What a process that runs ``code`` with ``env`` and a new lakehouse prints to the terminal."""
    env = {**os.environ, "LAKEHOUSE_HOME": str(tmp_path / "home"), **env}
    env.pop("SPARK_LOCAL_IP", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


def test_the_first_start_writes_ivys_report_to_a_log_not_the_terminal(tmp_path: Path):
    cache = tmp_path / "jars"
    terminal = _start(tmp_path, ONLY_SMALL + START, LAKEHOUSE_JAR_CACHE=str(cache))

    assert "resolving dependencies" not in terminal and "spark-packages" not in terminal, terminal
    assert "resolving dependencies" in (cache / "resolve.log").read_text()
    [jar] = jars.cached_jars(cache, [SMALL])
    assert Path(jar).name == "org.slf4j_slf4j-api-2.0.13.jar" and Path(jar).stat().st_size > 0


def test_the_lock_is_for_the_coordinates_local_spark_asks_for():
    locked = json.loads(jars.LOCK.read_text())
    assert sorted(locked["coordinates"]) == sorted(jars.local_coordinates()), (
        "pyspark, delta-spark or a JDBC driver changed: run `make lock-jars`"
    )
    assert all(jar["path"].endswith(".jar") and len(jar["sha256"]) == 64 for jar in locked["jars"])


@pytest.fixture(scope="module")
def small_lock(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The lock ``make lock-jars`` writes for the small artifact (Ivy resolves it from Maven Central)."""
    lock = tmp_path_factory.mktemp("lock") / "jars.lock.json"
    jars.write_lock([SMALL], lock)
    return json.loads(lock.read_text())


def test_a_lock_written_from_ivys_resolution_fetches_the_same_files(tmp_path: Path, small_lock: dict):
    lock = tmp_path / "jars.lock.json"
    lock.write_text(json.dumps(small_lock))
    [entry] = json.loads(lock.read_text())["jars"]
    assert entry["path"] == "org/slf4j/slf4j-api/2.0.13/slf4j-api-2.0.13.jar"

    cache = tmp_path / "jars"
    [jar] = jars.fetch_locked(cache, [SMALL], lock)
    assert Path(jar).name == "org.slf4j_slf4j-api-2.0.13.jar"
    assert hashlib.sha256(Path(jar).read_bytes()).hexdigest() == entry["sha256"]
    assert jars.cached_jars(cache, [SMALL]) == [jar]
    assert jars.fetch_locked(cache, ["org.slf4j:slf4j-api:2.0.12"], lock) is None


def test_a_download_that_does_not_match_the_locks_digest_is_not_used(tmp_path: Path, small_lock: dict):
    lock = tmp_path / "jars.lock.json"
    [entry] = small_lock["jars"]
    lock.write_text(json.dumps({**small_lock, "jars": [{**entry, "sha256": "0" * 64}]}))

    cache = tmp_path / "jars"
    assert jars.fetch_locked(cache, [SMALL], lock) is None
    assert jars.cached_jars(cache, [SMALL]) is None
    assert list((cache / "locked").iterdir()) == []


def test_a_start_prints_none_of_sparks_start_up_notices(tmp_path: Path):
    # The project's jar cache and jars: a first start, if they are not cached yet, and a later start.
    _start(tmp_path, START)
    terminal = _start(tmp_path, START)

    notices = (
        "Using Spark's default log4j profile",
        "Setting default log level",
        "To adjust logging level",
        "resolves to a loopback address",
        "SPARK_LOCAL_IP",
        "native-hadoop library",
    )
    assert [n for n in notices if n in terminal] == [], terminal
