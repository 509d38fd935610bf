"""DataFrames cached for one step, and released when the step ends.

A Spark session can outlive a step: in-process runs share one, and so do the job runs of a
Databricks all-purpose cluster. Spark's cache would keep a step's cached frames for the next step,
and it answers a new query from them whenever the query's plan matches, without asking whether the
data underneath changed: a landed file rewritten under the same name, or a Delta table appended to
by a stream or by another cluster. A later run would then read what an earlier one cached.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType

from pyspark.sql import DataFrame


class StepCache(AbstractContextManager["StepCache"]):
    """``with StepCache() as cache: frame = cache(df)``: ``df`` cached until the block ends.

    In a generator asset, the block spans the yields: Dagster writes each output as it is yielded,
    so the frames stay cached for the writes and the checks, and are released however the step ends.
    """

    def __init__(self) -> None:
        self._frames: list[DataFrame] = []

    def __call__(self, frame: DataFrame) -> DataFrame:
        self._frames.append(frame.cache())
        return frame

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for frame in self._frames:
            frame.unpersist()
        self._frames.clear()
