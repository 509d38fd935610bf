"""The local Spark session is set from the environment: its tuning, memory and any Spark setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mssql_lakehouse.settings import project_root

# Started in its own process: a process has one Spark session, and the tests' is already running.
SESSION_SETTINGS = """
import json
from mssql_lakehouse.definitions import build_defs
from mssql_lakehouse.settings import LakehouseSettings

spark = build_defs(LakehouseSettings.from_env()).resources["spark"].get_session()
keys = ["spark.sql.codegen.wholeStage", "spark.sql.adaptive.enabled", "spark.driver.memory",
        "spark.sql.shuffle.partitions", "spark.master"]
# Without a default, a SQL setting nobody set reads as Spark's own default.
print(json.dumps({key: spark.conf.get(key) for key in keys}))
"""


def session_settings(tmp_path, **env: str) -> dict[str, str | None]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    environment.update({"LAKEHOUSE_HOME": str(tmp_path), **env})
    done = subprocess.run(
        [sys.executable, "-c", SESSION_SETTINGS],
        cwd=project_root(),
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_default_tuning_is_for_small_data(tmp_path):
    conf = session_settings(tmp_path)
    assert conf["spark.sql.codegen.wholeStage"] == "false"
    assert conf["spark.sql.adaptive.enabled"] == "false"
    assert conf["spark.driver.memory"] == "4g"


def test_spark_defaults_memory_and_extra_settings_come_from_the_environment(tmp_path):
    conf = session_settings(
        tmp_path,
        LAKEHOUSE_SPARK_TUNING="spark_defaults",
        LAKEHOUSE_SPARK_DRIVER_MEMORY="3g",
        LAKEHOUSE_SPARK_MASTER="local[1]",
        LAKEHOUSE_SPARK_CONF=json.dumps({"spark.sql.shuffle.partitions": 7}),
    )
    # Spark's own defaults: code generation and adaptive execution on.
    assert conf["spark.sql.codegen.wholeStage"] == "true"
    assert conf["spark.sql.adaptive.enabled"] == "true"
    assert conf["spark.driver.memory"] == "3g"
    assert conf["spark.master"] == "local[1]"
    assert conf["spark.sql.shuffle.partitions"] == "7"
