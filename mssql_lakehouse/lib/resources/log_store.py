"""The Delta log store local Spark commits through, safe for runs in several processes.

Delta's own store for ``file:`` paths is atomic within one JVM only (``java/ExclusiveLocalLogStore.java``
says why); two Dagster runs writing one local table are two JVMs. The project's store is one Java
class, compiled with the JDK's ``javac`` on local Spark's first start and cached beside the jars,
under a name that changes with its source and with the jars it is compiled against. On Databricks
the runtime's own store is used: none of this applies there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pyspark

SOURCE = Path(__file__).with_name("java") / "ExclusiveLocalLogStore.java"
CLASS_NAME = "mssql_lakehouse.delta.ExclusiveLocalLogStore"


def log_store_jar(cache_dir: Path, jars: list[str]) -> str:
    """The jar of the log store compiled against ``jars`` (Delta's among them) and Spark's own."""
    spark_jars = Path(pyspark.__file__).parent / "jars"
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update("\n".join([pyspark.__version__, *sorted(Path(j).name for j in jars)]).encode())
    target = cache_dir / f"log-store-{digest.hexdigest()[:16]}.jar"
    if target.exists():
        return str(target)
    javac = shutil.which("javac")
    if javac is None:
        raise RuntimeError(
            "Local Spark commits to Delta through the project's log store, compiled once with the JDK's"
            " javac, and no javac is on PATH: install a JDK 17 (on Debian, openjdk-17-jdk-headless)."
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        classes = Path(tmp)
        classpath = os.pathsep.join([*jars, str(spark_jars / "*")])
        compiled = subprocess.run(
            [javac, "--release", "17", "-d", str(classes), "-cp", classpath, str(SOURCE)],
            capture_output=True,
            text=True,
        )
        if compiled.returncode != 0:
            raise RuntimeError(f"javac could not compile {SOURCE.name}:\n{compiled.stderr}")
        # Written under a name of this process's, then renamed: processes starting at once each
        # compile and the last rename wins, with the same bytes.
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        with zipfile.ZipFile(partial, "w") as jar:
            for path in sorted(classes.rglob("*.class")):
                jar.write(path, path.relative_to(classes).as_posix())
        partial.replace(target)
    return str(target)
