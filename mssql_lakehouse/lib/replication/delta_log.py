"""Reading a local Delta table's log as files: versions, checkpoints and the files each commit needs.

Only what replication needs from the Delta protocol: the names of the files in
``_delta_log`` (commits ``<v>.json``, checkpoints classic, multi-part and V2 with
``_sidecars``, ``<v>.crc`` checksums, ``<a>.<b>.compacted.json`` log compactions,
``_last_checkpoint``) and, in the actions, the files a version references: ``add``
and ``cdc`` paths (relative, URL-encoded) and deletion vectors stored next to the
data (storage type ``u``: ``<prefix>/deletion_vector_<uuid>.bin``, the UUID
Z85-encoded in the last 20 characters of ``pathOrInlineDv``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow.parquet as pq

LOG_DIR = "_delta_log"
SIDECARS_DIR = "_sidecars"
LAST_CHECKPOINT = "_last_checkpoint"

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(\.[^/]+)?\.(parquet|json)$")
_CRC = re.compile(r"^(\d{20})\.crc$")
_COMPACTED = re.compile(r"^(\d{20})\.(\d{20})\.compacted\.json$")

_Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_Z85_VALUE = {c: i for i, c in enumerate(_Z85)}


@dataclass
class DeltaLog:
    """The files of one table's ``_delta_log``, by version."""

    table: Path
    commits: dict[int, Path] = field(default_factory=dict)
    checkpoints: dict[int, list[Path]] = field(default_factory=dict)
    checksums: dict[int, Path] = field(default_factory=dict)
    compactions: dict[tuple[int, int], Path] = field(default_factory=dict)

    @property
    def log_dir(self) -> Path:
        return self.table / LOG_DIR

    @property
    def exists(self) -> bool:
        return bool(self.commits or self.checkpoints)

    @property
    def version(self) -> int:
        """The latest version, -1 for no table."""
        return max([*self.commits, *self.checkpoints], default=-1)

    def commit_timestamp_ms(self, version: int) -> int | None:
        """When a version was committed: the in-commit timestamp, else commitInfo's, else the file's time."""
        path = self.commits.get(version)
        if path is None:
            return None
        for action in read_json_actions(path):
            info = action.get("commitInfo")
            if info:
                return int(info.get("inCommitTimestamp") or info.get("timestamp") or path.stat().st_mtime * 1000)
        return int(path.stat().st_mtime * 1000)


def list_log(table: Path) -> DeltaLog:
    """The log files of a local Delta table (empty when there is no table at ``table``)."""
    log = DeltaLog(table)
    if not log.log_dir.is_dir():
        return log
    for path in log.log_dir.iterdir():
        name = path.name
        if m := _COMMIT.match(name):
            log.commits[int(m[1])] = path
        elif m := _CHECKPOINT.match(name):
            log.checkpoints.setdefault(int(m[1]), []).append(path)
        elif m := _CRC.match(name):
            log.checksums[int(m[1])] = path
        elif m := _COMPACTED.match(name):
            log.compactions[(int(m[1]), int(m[2]))] = path
    for parts in log.checkpoints.values():
        parts.sort()
    return log


def read_json_actions(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def read_checkpoint_actions(log_dir: Path, parts: list[Path]) -> Iterator[dict[str, Any]]:
    """The actions of a checkpoint (all parts), following a V2 checkpoint's sidecars."""
    for part in parts:
        if part.suffix == ".json":
            actions: Iterator[dict[str, Any]] = read_json_actions(part)
        else:
            actions = _parquet_actions(part)
        for action in actions:
            sidecar = action.get("sidecar")
            if sidecar:
                yield from _parquet_actions(log_dir / SIDECARS_DIR / unquote(sidecar["path"]))
            else:
                yield action


def _parquet_actions(path: Path) -> Iterator[dict[str, Any]]:
    schema = pq.read_schema(path)
    columns = [c for c in ("add", "sidecar") if c in schema.names]
    for row in pq.read_table(path, columns=columns).to_pylist():
        yield {k: v for k, v in row.items() if v is not None}


def sidecar_names(actions: Iterator[dict[str, Any]]) -> list[str]:
    return [unquote(a["sidecar"]["path"]) for a in actions if a.get("sidecar")]


def checkpoint_sidecars(parts: list[Path]) -> list[str]:
    """The sidecar files a V2 checkpoint names (none for classic checkpoints)."""
    names = []
    for part in parts:
        if part.suffix == ".json":
            names += sidecar_names(read_json_actions(part))
        elif "sidecar" in pq.read_schema(part).names:
            names += sidecar_names(iter(pq.read_table(part, columns=["sidecar"]).to_pylist()))
    return names


@dataclass
class ReferencedFiles:
    """Files under the table root that actions reference, and what cannot be copied from there."""

    added: set[str] = field(default_factory=set)  # data, change-data and deletion-vector files
    removed: set[str] = field(default_factory=set)
    external: set[str] = field(default_factory=set)  # absolute paths (e.g. a shallow clone's): not ours to copy

    def collect(self, actions: Iterator[dict[str, Any]]) -> None:
        for action in actions:
            for kind in ("add", "cdc"):
                if kind in action:
                    self._reference(action[kind]["path"])
                    if kind == "add":
                        self._reference_dv(action["add"].get("deletionVector"))
            if "remove" in action:
                self.removed.add(unquote(action["remove"]["path"]))

    def _reference(self, raw_path: str) -> None:
        if urlparse(raw_path).scheme or raw_path.startswith("/"):
            self.external.add(raw_path)
        else:
            self.added.add(unquote(raw_path))

    def _reference_dv(self, dv: dict[str, Any] | None) -> None:
        if not dv:
            return
        if dv.get("storageType") == "u":
            self.added.add(deletion_vector_path(dv["pathOrInlineDv"]))
        elif dv.get("storageType") == "p":
            self.external.add(dv["pathOrInlineDv"])
        # "i": inline in the log, no file.


def deletion_vector_path(path_or_inline_dv: str) -> str:
    """The table-relative file of a ``u`` deletion vector: ``<prefix>/deletion_vector_<uuid>.bin``."""
    prefix, encoded = path_or_inline_dv[:-20], path_or_inline_dv[-20:]
    name = f"deletion_vector_{uuid.UUID(bytes=z85_decode(encoded))}.bin"
    return f"{prefix}/{name}" if prefix else name


def z85_decode(text: str) -> bytes:
    if len(text) % 5:
        raise ValueError(f"Z85 text must be a multiple of 5 characters, not {len(text)}")
    out = bytearray()
    for start in range(0, len(text), 5):
        value = 0
        for char in text[start : start + 5]:
            value = value * 85 + _Z85_VALUE[char]
        out += value.to_bytes(4, "big")
    return bytes(out)
