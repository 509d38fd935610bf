"""The first Spark start on a machine fetches the jars from Maven Central without flooding the terminal."""

import os
import subprocess
import sys
from pathlib import Path

from mssql_lakehouse.lib.resources import jars

# A small artifact from Maven Central, resolved as Delta's and the JDBC drivers' jars are.
SMALL = "org.slf4j:slf4j-api:2.0.13"
FIRST_START = f"""
from mssql_lakehouse.lib.resources import jars, spark
from mssql_lakehouse.settings import LakehouseSettings
jars.local_coordinates = lambda: [{SMALL!r}]
spark.local_spark_session(paths=LakehouseSettings.from_env().paths).stop()
"""


def test_the_first_start_writes_ivys_report_to_a_log_not_the_terminal(tmp_path: Path):
    cache = tmp_path / "jars"
    env = {**os.environ, "LAKEHOUSE_HOME": str(tmp_path / "home"), "LAKEHOUSE_JAR_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", FIRST_START], env=env, capture_output=True, text=True, check=True)

    terminal = done.stdout + done.stderr
    assert "resolving dependencies" not in terminal and "spark-packages" not in terminal, terminal
    assert "resolving dependencies" in (cache / "resolve.log").read_text()
    [jar] = jars.cached_jars(cache, [SMALL])
    assert Path(jar).name == "org.slf4j_slf4j-api-2.0.13.jar" and Path(jar).stat().st_size > 0
