"""What a user reads from a lakehouse's tables, through an independent reader: the ``deltalake`` package.

Fault tests compare a lakehouse that went through a fault (runs at the same time, a killed run)
with one that ran cleanly; reading both with deltalake rather than Spark means a table only
Spark could make sense of would not pass.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

# Columns holding the clock of the run that wrote the row: the only content two runs of the same
# inputs may write differently. Sales bronze stamps when the run extracted the rows, inventory
# bronze when the run landed the files.
RUN_CLOCK_COLUMNS = ("_extracted_at", "_ingested_at")

Rows = list[dict[str, Any]]


def table_names(root: Path) -> list[str]:
    """Every Delta table under ``root`` (a folder with a ``_delta_log``), as ``layer/name``."""
    return sorted(str(log.parent.relative_to(root)) for log in root.glob("*/*/_delta_log") if log.is_dir())


def rows(table: Path, drop: Collection[str] = RUN_CLOCK_COLUMNS) -> Rows:
    """The table's current rows without the ``drop`` columns, in a fixed order."""
    data = DeltaTable(str(table)).to_pyarrow_table()
    data = data.drop_columns([c for c in data.column_names if c in drop])
    return sorted(data.to_pylist(), key=lambda row: repr(sorted(row.items())))


def contents(root: Path, drop: Collection[str] = RUN_CLOCK_COLUMNS) -> dict[str, Rows]:
    """``layer/name`` -> sorted rows, for every Delta table under ``root``."""
    return {name: rows(root / name, drop) for name in table_names(root)}
