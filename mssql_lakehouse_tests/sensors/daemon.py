"""A sensor evaluated as the Dagster daemon evaluates it, and its requests launched as the daemon launches them.

The daemon calls the sensor's ``evaluate_tick`` with the instance, the code location's
definitions and the resources the sensor needs, keeps the cursor it returns for the next
tick, skips a request whose run key already has a run, and creates each run with the
request's tags plus the sensor's name and the run key. Here the run executes in process,
in the same instance, so the sensor's next tick sees how it ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import dagster as dg

RUN_KEY_TAG = "dagster/run_key"


@dataclass
class Tick:
    requests: list[dg.RunRequest]
    skip_message: str | None
    cursor: str | None
    log: list[str]
    """What the sensor wrote to its tick log."""


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@dataclass
class Daemon:
    defs: dg.Definitions
    """The lakehouse's definitions with the sensor."""
    instance: dg.DagsterInstance
    sensor: dg.SensorDefinition
    cursor: str | None = None
    ticks: list[Tick] = field(default_factory=list)

    @classmethod
    def of(cls, defs: dg.Definitions, instance: dg.DagsterInstance, sensor: dg.SensorDefinition) -> Daemon:
        return cls(dg.Definitions.merge(defs, dg.Definitions(sensors=[sensor])), instance, sensor)

    def context(self) -> dg.SensorEvaluationContext:
        """What the daemon evaluates the sensor with: the instance, the cursor it kept, and the code
        location's resources the sensor asks for (its code server hands them over)."""
        resources = self.defs.get_repository_def().get_top_level_resources()
        return dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            definitions=self.defs,
            sensor_name=self.sensor.name,
            resources={key: resources[key] for key in self.sensor.required_resource_keys},
        )

    def tick(self) -> Tick:
        context = self.context()
        lines = _Lines()
        context.log.addHandler(lines)
        data = self.sensor.evaluate_tick(context)
        self.cursor = data.cursor
        tick = Tick(list(data.run_requests or []), data.skip_message, data.cursor, lines.lines)
        self.ticks.append(tick)
        return tick

    def launch(
        self, request: dg.RunRequest, during: Callable[[], AbstractContextManager] = nullcontext
    ) -> dg.ExecuteInProcessResult | None:
        """Run what ``request`` asks for, unless its run key already ran; ``during`` wraps the run (a fault)."""
        if request.run_key and self.instance.get_runs(dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key}), limit=1):
            return None
        job = self.defs.resolve_job_def(request.job_name or self.sensor.job_name)
        tags = {**request.tags, "dagster/sensor_name": self.sensor.name}
        if request.run_key:
            tags[RUN_KEY_TAG] = request.run_key
        with during():
            return job.execute_in_process(
                instance=self.instance, partition_key=request.partition_key, tags=tags, raise_on_error=False
            )

    def tick_and_launch(
        self, during: Callable[[], AbstractContextManager] = nullcontext
    ) -> tuple[Tick, list[dg.ExecuteInProcessResult | None]]:
        """One tick, then every run it requested."""
        tick = self.tick()
        return tick, [self.launch(request, during) for request in tick.requests]
