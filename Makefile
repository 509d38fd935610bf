# The two commands a new user needs: `make demo` (runs the main job on this machine)
# and `make test` (runs the test suite). Both set up the environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export LAKEHOUSE_HOME ?= $(CURDIR)/.lakehouse

.PHONY: setup demo test test-ui lint format dev bench lock-jars clean

# The class archive makes each local Spark start faster (mssql_lakehouse/lib/resources/class_archive.py);
# it is built once for the jars and the JDK, and this finds it built on every later setup.
setup: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/mssql-lakehouse class-archive

# uv resolves and installs the same versions as pip in less than two thirds of the time (41 s
# against 68 s from an empty cache on 2 cores); it is installed into the environment it fills.
# uv does not read pip's configuration (pip.conf, PIP_INDEX_URL): where only pip reaches the
# index, pip installs instead.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[test]" || $(BIN)/pip install --quiet -e ".[test]"
	touch $@

# dagster.yaml sets only the default pool limit; `mssql-lakehouse pools` limits the pools whose
# steps must never overlap (mssql_lakehouse/lib/pools.py) to one step at a time.
$(DAGSTER_HOME)/dagster.yaml: dagster.yaml $(VENV)/.installed
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@
	$(BIN)/mssql-lakehouse pools

demo: setup
	$(BIN)/mssql-lakehouse quickstart

test: setup
	$(BIN)/pytest

# The browser suite: a real `dagster dev` driven in Debian's chromium (see the README).
test-ui: setup
	$(BIN)/pytest -m ui

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

dev: setup
	$(BIN)/dagster dev -w workspace.yaml

bench: setup
	$(BIN)/python benchmarks/report.py

# After a change of pyspark, delta-spark or a JDBC driver: resolve the Spark jars afresh from
# Maven Central and rewrite the lock a first start downloads them by (mssql_lakehouse/lib/resources/jars.py).
lock-jars: setup
	$(BIN)/python -m mssql_lakehouse.lib.resources.jars lock

clean:
	rm -rf $(LAKEHOUSE_HOME) $(DAGSTER_HOME)
