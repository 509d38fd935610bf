"""The landing zone: a region's day folders and the export files in them.

Names starting with ``.`` or ``_`` are not exports (files still being written, Spark's
``_SUCCESS``, Auto Loader's ``_autoloader`` state) and are never listed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

FORMATS = {".parquet": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class LandedFile:
    path: str
    name: str
    size: int
    modified_micros: int

    @property
    def format(self) -> str | None:
        return FORMATS.get(Path(self.name).suffix.lower())

    @property
    def modified_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.modified_micros / 1_000_000, dt.UTC)


def _visible(path: Path) -> bool:
    return not path.name.startswith((".", "_"))


def landed_files(folder: str) -> list[LandedFile]:
    """The export files in one day folder, by name (none if the folder does not exist)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    files = []
    for path in sorted(p for p in root.iterdir() if p.is_file() and _visible(p)):
        stat = path.stat()
        files.append(LandedFile(str(path.resolve()), path.name, stat.st_size, stat.st_mtime_ns // 1000))
    return files


def day_folders(root: str) -> list[str]:
    """The ``YYYY-MM-DD`` folders under a region's landing root."""
    base = Path(root)
    if not base.is_dir():
        return []
    days = []
    for path in base.iterdir():
        try:
            dt.date.fromisoformat(path.name)
        except ValueError:
            continue
        if path.is_dir() and len(path.name) == 10:
            days.append(path.name)
    return sorted(days)


LANDED_FILE_SETS = "landed_file_sets"
"""Metadata of a bronze materialization: partition key -> fingerprint of the file set the run landed."""


def fingerprint(files: list[LandedFile]) -> str:
    """Names, sizes and modification times of a file set: equal exactly when the same files are there."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.name):
        digest.update(f"{f.name}\0{f.size}\0{f.modified_micros}\n".encode())
    return digest.hexdigest()[:16]
