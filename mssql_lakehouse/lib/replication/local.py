"""Incremental replication of a local Delta table to another folder, by copying files.

Delta data files are immutable and every version is one commit file, so a replica
that holds the source's commits ``0..r`` catches up to ``s`` by copying the files
commits ``r+1..s`` add (data, change data, deletion vectors) and then those commit
files. The order is what keeps the replica readable at every moment: data files
first, then the log in version order (each commit before its checksum and
checkpoint), and ``_last_checkpoint`` last; every file is written to a hidden
temporary name and renamed into place. A reader of the replica therefore sees
some version ``<= s`` whose files are all there, never a commit without its files.

The replica keeps the source's version numbers and commit times (file times are
kept too: Delta's timestamps come from them), so ``versionAsOf`` means the same
on both sides and lag is simply versions behind.

When the source's log no longer has commit ``r+1`` (log cleanup after a long
outage), the copy starts from the newest checkpoint that the remaining commits
follow, and copies the files live at that checkpoint instead.

What the source deletes is deleted from the replica once it has caught up: data
files the source's VACUUM removed, and log files older than the source's oldest
(its log cleanup). The replica keeps the same time-travel reach as the source and
does not grow without bound; nobody needs to VACUUM it (doing so with Spark would
add commits of its own and make it diverge).

Only the files commits add are copied: a failed or killed write's orphans in the source
(files no commit references) never reach the replica, and the check, which reads both
tables through their logs, never sees them. A pass killed midway leaves the data files of
versions whose commits it had not copied yet (the next pass finds them in place and copies
the commits) and a hidden temporary (the next pass deletes it).

A replica that has a commit the source lacks (a different commit ``r``, or a
version beyond the source's) has diverged: someone wrote to it. Replicating over
it would lose those writes, so it is refused unless forced; forced, the diverged
table is moved aside (a rename, nothing deleted) and the source copied in full.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mssql_lakehouse.lib.replication.delta_log import (
    LAST_CHECKPOINT,
    LOG_DIR,
    SIDECARS_DIR,
    DeltaLog,
    ReferencedFiles,
    checkpoint_sidecars,
    list_log,
    read_checkpoint_actions,
    read_json_actions,
)

DIVERGED_DIR = "_diverged"
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")  # what _atomic_copy writes before its rename


class ReplicaDivergedError(RuntimeError):
    """The replica has commits its source lacks; replicating over it would lose them."""


class ReplicationGapError(RuntimeError):
    """The source's log no longer has what the replica needs, and no checkpoint bridges the gap."""


@dataclass
class TableReplication:
    """What one pass did for one table."""

    table: str
    source: str
    target: str
    status: str = "in_sync"  # in_sync | copied | source_missing
    source_version: int = -1
    target_version_before: int = -1
    versions_copied: list[int] = field(default_factory=list)
    started_from_checkpoint: int | None = None
    data_files_copied: int = 0
    data_bytes_copied: int = 0
    log_files_copied: int = 0
    log_bytes_copied: int = 0
    data_files_already_present: int = 0
    skipped_vacuumed_files: int = 0
    files_pruned: int = 0
    bytes_pruned: int = 0
    external_files: int = 0
    diverged_moved_to: str | None = None
    seconds: float = 0.0
    copied_data_files: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "copied_data_files"}
        versions = self.versions_copied
        data["versions_copied"] = f"{versions[0]}..{versions[-1]}" if versions else ""
        data["seconds"] = round(self.seconds, 3)
        return data


def replicate_table(
    source: Path, target: Path, *, name: str | None = None, force: bool = False, aside: Path | None = None
) -> TableReplication:
    """Bring the local Delta table at ``target`` to the source's current version, copying only what it lacks.

    ``force`` replaces a diverged target after moving it to ``aside`` (default
    ``<target root>/_diverged/<layer>/<table>/<UTC time>``).
    """
    started = time.monotonic()
    result = TableReplication(name or target.name, str(source), str(target))
    src = list_log(source)
    if not src.exists:
        result.status = "source_missing"
        return result
    dst = list_log(target)
    s = src.version  # a snapshot: commits written to the source from now on wait for the next pass
    result.source_version, result.target_version_before = s, dst.version

    reason = divergence(src, dst)
    if reason:
        if not force:
            raise ReplicaDivergedError(
                f"{result.table}: {reason}. Replicating would discard the replica's own commits; "
                "reconcile them, or force (the diverged table is moved aside, not deleted)."
            )
        aside = aside or _aside_path(target)
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(target, aside)
        result.diverged_moved_to = str(aside)
        dst = list_log(target)

    r = dst.version
    if r < s:
        _copy_versions(src, dst, r, s, result)
        result.status = "copied"
    _prune(source, target, result)
    result.seconds = time.monotonic() - started
    return result


def divergence(src: DeltaLog, dst: DeltaLog) -> str | None:
    """Why the replica is not a prefix of the source's history, or None when it is."""
    r = dst.version
    if r < 0:
        return None
    if r > src.version:
        return f"the replica is at version {r}, the source only at {src.version}"
    if r in src.commits and r in dst.commits:
        same = filecmp.cmp(src.commits[r], dst.commits[r], shallow=False)
    elif r in src.checkpoints and r in dst.checkpoints:  # a replica started from a checkpoint
        same = [p.name for p in src.checkpoints[r]] == [p.name for p in dst.checkpoints[r]] and all(
            filecmp.cmp(a, b, shallow=False) for a, b in zip(src.checkpoints[r], dst.checkpoints[r], strict=False)
        )
    else:
        return f"version {r} cannot be compared (the source's log no longer has it), so the replica is unverifiable"
    return None if same else f"version {r} differs between the source and the replica"


def _copy_versions(src: DeltaLog, dst: DeltaLog, r: int, s: int, result: TableReplication) -> None:
    first = r + 1
    checkpoint = None
    if any(v not in src.commits for v in range(first, s + 1)):
        checkpoint = _bridging_checkpoint(src, r, s)
        first = checkpoint + 1
        result.started_from_checkpoint = checkpoint
    versions = list(range(first, s + 1))

    files = ReferencedFiles()
    sidecars: list[str] = []
    if checkpoint is not None:
        files.collect(read_checkpoint_actions(src.log_dir, src.checkpoints[checkpoint]))
    for v in versions:
        files.collect(read_json_actions(src.commits[v]))
    for v in [*([checkpoint] if checkpoint is not None else []), *versions]:
        sidecars += checkpoint_sidecars(src.checkpoints.get(v, []))
    result.external_files = len(files.external)

    # 1. Data, change-data and deletion-vector files the replica lacks.
    for rel in sorted(files.added):
        source_file, target_file = src.table / rel, dst.table / rel
        if not source_file.exists():
            if rel in files.removed:
                result.skipped_vacuumed_files += 1  # added then removed in the range, and vacuumed since
                continue
            raise FileNotFoundError(f"{result.table}: {rel} is referenced by the source's log but missing from it")
        if target_file.exists() and target_file.stat().st_size == source_file.stat().st_size:
            result.data_files_already_present += 1
            continue
        result.data_bytes_copied += _atomic_copy(source_file, target_file)
        result.data_files_copied += 1
        result.copied_data_files.append(rel)

    # 2. The log: sidecars, a bridging checkpoint, then each commit with its checksum and checkpoint.
    log_files = [src.log_dir / SIDECARS_DIR / name for name in sidecars]
    if checkpoint is not None:
        # The checkpoint before its commit: a reader must not find the commit after a gap without it.
        log_files += [*src.checkpoints[checkpoint], *([src.commits[checkpoint]] if checkpoint in src.commits else [])]
    for v in versions:
        log_files += [src.commits[v], *([src.checksums[v]] if v in src.checksums else []), *src.checkpoints.get(v, [])]
    log_files += [p for (a, b), p in sorted(src.compactions.items()) if first <= a and b <= s]
    for path in log_files:
        target_file = dst.log_dir / path.relative_to(src.log_dir)
        if path.parent.name == SIDECARS_DIR and target_file.exists():
            continue
        result.log_bytes_copied += _atomic_copy(path, target_file)
        result.log_files_copied += 1

    # 3. The checkpoint hint, last, and only when it names a version the replica now has.
    hint = src.log_dir / LAST_CHECKPOINT
    if hint.exists():
        hinted = _hinted_version(hint)
        if (
            hinted is not None
            and hinted <= s
            and hinted in {*src.checkpoints}
            and (
                not (dst.log_dir / LAST_CHECKPOINT).exists() or _hinted_version(dst.log_dir / LAST_CHECKPOINT) != hinted
            )
        ):
            result.log_bytes_copied += _atomic_copy(hint, dst.log_dir / LAST_CHECKPOINT)
            result.log_files_copied += 1
    result.versions_copied = [*([checkpoint] if checkpoint is not None else []), *versions]


def _prune(source: Path, target: Path, result: TableReplication) -> None:
    """Delete from the replica what the source deleted (VACUUM, log cleanup); the replica is at its version."""
    # The replica is listed first: its files all came from the source, so one the source's
    # later listing lacks was deleted there, never one still being written.
    replica_files = _data_files(target)
    replica_log = list_log(target)
    source_files = _data_files(source)
    source_log = list_log(source)
    # Passes never overlap (the DR pool), so a temporary is a killed pass's leftover, not a copy in progress.
    temporaries = [p for p in target.rglob(".*.tmp") if p.is_file() and _TEMPORARY.match(p.name)]
    for path in sorted([*(target / rel for rel in replica_files - source_files), *temporaries]):
        result.bytes_pruned += path.stat().st_size
        path.unlink()
        result.files_pruned += 1
    oldest = min([*source_log.commits, *source_log.checkpoints], default=0)
    kept = {p.name for p in source_log.log_dir.iterdir()} if source_log.log_dir.is_dir() else set()
    old_log = [
        *(p for v, p in replica_log.commits.items() if v < oldest),
        *(p for v, p in replica_log.checksums.items() if v < oldest),
        *(p for v, parts in replica_log.checkpoints.items() if v < oldest for p in parts),
        *(p for (_, b), p in replica_log.compactions.items() if b < oldest),
    ]
    for path in sorted(old_log):
        if path.name not in kept:
            result.bytes_pruned += path.stat().st_size
            path.unlink()
            result.files_pruned += 1


def _data_files(table: Path) -> set[str]:
    """Data, change-data and deletion-vector files of a table: everything but its log and hidden files."""
    if not table.is_dir():
        return set()
    return {
        str(p.relative_to(table))
        for p in table.rglob("*")
        if p.is_file() and p.relative_to(table).parts[0] != LOG_DIR and not p.name.startswith(".")
    }


def _bridging_checkpoint(src: DeltaLog, r: int, s: int) -> int:
    """The newest checkpoint after the replica's version that the source's remaining commits follow."""
    for c in sorted((c for c in src.checkpoints if r < c <= s), reverse=True):
        if all(v in src.commits for v in range(c + 1, s + 1)):
            return c
    raise ReplicationGapError(
        f"{src.table}: the source's log has no commits after version {r} to copy and no checkpoint bridging "
        "the gap; replicate with force to copy the table in full"
    )


def _hinted_version(path: Path) -> int | None:
    try:
        return int(next(read_json_actions(path))["version"])
    except (StopIteration, KeyError, ValueError, OSError):
        return None


def _atomic_copy(source: Path, target: Path) -> int:
    """Copy under a hidden temporary name and rename into place; keeps the file time (Delta reads it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        shutil.copy2(source, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target.stat().st_size


def _aside_path(target: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return target.parent.parent / DIVERGED_DIR / target.parent.name / target.name / stamp


__all__ = [
    "ReplicaDivergedError",
    "ReplicationGapError",
    "TableReplication",
    "divergence",
    "replicate_table",
]
