"""The runs a sensor requested, followed until they succeed; a failed one is requested again, a few times.

A sensor advances its cursor when it requests a run, and Dagster launches a run key only once, so
a run that failed (after the instance's own run retries, ``run_retries`` in dagster.yaml) would
leave its day, region or change range unrequested until its input changed. So each sensor keeps
the runs it requested in its cursor, and on every tick looks up how they ended, by run key,
following the instance's automatic retries: one that succeeded is forgotten, one that failed is
requested again under a new run key, up to ``MAX_ATTEMPTS`` requests in all, and then given up.
The sensor's tick log says which runs are requested again and which were given up.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import dagster as dg

MAX_ATTEMPTS = 3
"""Requests of the same input in all, the first included; each run also gets the instance's run retries."""

RUN_KEY_TAG = "dagster/run_key"
"""The tag the daemon gives a sensor's run: the request's run key."""
AUTO_RETRY_RUN_ID_TAG = "dagster/auto_retry_run_id"
"""The tag the run-retry daemon puts on a failed run: the id of the run that retries it."""
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


class Outcome(enum.Enum):
    WAITING = "waiting"
    """Not launched yet, queued, running, or failed with a run retry still to come."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Requested:
    """A run request a sensor made, as its cursor keeps it."""

    run_key: str
    attempt: int
    partition_key: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        """What the run covers: its partition, or its partition range."""
        if self.partition_key is not None:
            return self.partition_key
        return f"{self.tags.get(RANGE_START_TAG)}..{self.tags.get(RANGE_END_TAG)}"

    def run_request(self) -> dg.RunRequest:
        return dg.RunRequest(
            run_key=self.run_key,
            partition_key=self.partition_key,
            tags={**self.tags, "lakehouse/attempt": str(self.attempt)},
        )

    def again(self) -> Requested:
        """The next attempt: the same run under a run key the daemon has not launched."""
        base = self.run_key.rsplit("#attempt", 1)[0]
        return replace(self, run_key=f"{base}#attempt{self.attempt + 1}", attempt=self.attempt + 1)

    def dump(self) -> dict:
        return {
            "run_key": self.run_key,
            "attempt": self.attempt,
            "partition_key": self.partition_key,
            "tags": self.tags,
        }

    @classmethod
    def parse(cls, raw: dict) -> Requested:
        return cls(raw["run_key"], int(raw["attempt"]), raw.get("partition_key"), dict(raw.get("tags") or {}))


def outcome(instance: dg.DagsterInstance, run_key: str) -> Outcome:
    """How the run launched for ``run_key`` ended, counting the instance's automatic retries of it."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
    if not runs:
        return Outcome.WAITING
    run = runs[0]
    while (retry_id := run.tags.get(AUTO_RETRY_RUN_ID_TAG)) and (retry := instance.get_run_by_id(retry_id)):
        run = retry
    if run.status == dg.DagsterRunStatus.SUCCESS:
        return Outcome.SUCCEEDED
    if not run.is_finished or run.is_complete_and_waiting_to_retry:
        return Outcome.WAITING
    return Outcome.CANCELED if run.status == dg.DagsterRunStatus.CANCELED else Outcome.FAILED


@dataclass(frozen=True)
class FollowUp:
    """Where a sensor's earlier requests stand at this tick."""

    waiting: list[Requested]
    """Still to finish: kept in the cursor."""
    failed: list[Requested]
    """Failed with attempts left: the sensor requests them again (or within a request of its own)."""
    dropped: list[str] = field(default_factory=list)
    """Why requests that will not be made again were dropped, for the tick log."""

    @property
    def notes(self) -> list[str]:
        """What this tick decided about earlier requests, for the tick log."""
        again = [
            f"Requesting {r.target} again: attempt {r.attempt} of {MAX_ATTEMPTS} (run key {r.run_key}) failed"
            for r in self.failed
        ]
        return [*again, *self.dropped]


def follow_up(instance: dg.DagsterInstance, requested: Iterable[Requested]) -> FollowUp:
    waiting, failed, dropped = [], [], []
    for request in requested:
        result = outcome(instance, request.run_key)
        if result is Outcome.WAITING:
            waiting.append(request)
        elif result is Outcome.FAILED and request.attempt < MAX_ATTEMPTS:
            failed.append(request)
        elif result is Outcome.FAILED:
            dropped.append(
                f"Gave up on {request.target} after {MAX_ATTEMPTS} failed attempts (last run key "
                f"{request.run_key}); it is requested again when its input changes"
            )
        elif result is Outcome.CANCELED:
            dropped.append(f"Not requesting {request.target} again: its run (run key {request.run_key}) was canceled")
    return FollowUp(waiting, failed, dropped)


def log_notes(context: dg.SensorEvaluationContext, followed: FollowUp) -> None:
    for note in followed.notes:
        (context.log.warning if note in followed.dropped else context.log.info)(note)


def skip_reason(default: str, followed: FollowUp) -> dg.SkipReason:
    """A skip reason that also says what the tick decided about earlier requests."""
    return dg.SkipReason("; ".join([default, *followed.notes]))


def with_retries(followed: FollowUp, new: list[Requested]) -> tuple[list[Requested], list[Requested]]:
    """(runs to request now, runs to keep following): the new requests and the failed ones again.

    A new request replaces the earlier ones of its target: its input changed, so it starts
    counting attempts afresh and the earlier run's outcome no longer matters.
    """
    targets = {r.target for r in new}
    retries = [r.again() for r in followed.failed if r.target not in targets]
    waiting = [r for r in followed.waiting if r.target not in targets]
    return [*new, *retries], [*waiting, *new, *retries]


def covering_refresh(
    starts: list[str], ends: list[str], failed: list[Requested], after: int, key_prefix: str, trigger: dict[str, str]
) -> Requested | None:
    """One run over the smallest range covering the new stale ranges and the failed refreshes to retry.

    A refresh with new stale data counts its attempts afresh (new input); a retry alone counts on.
    """
    all_starts = [*starts, *(r.tags[RANGE_START_TAG] for r in failed)]
    all_ends = [*ends, *(r.tags[RANGE_END_TAG] for r in failed)]
    if not all_starts:
        return None
    start, end = min(all_starts), max(all_ends)
    attempt = 1 if starts else max(r.attempt for r in failed) + 1
    return Requested(
        run_key=f"{key_prefix}:{start}..{end}:{after}#attempt{attempt}",
        attempt=attempt,
        tags={RANGE_START_TAG: start, RANGE_END_TAG: end, **trigger},
    )
