"""Publish the demo's ``dbo.Customer`` changes to a Kafka topic, as a Debezium connector would.

The events are those of :mod:`mssql_lakehouse_demo.debezium_export` (the same JSON lines the
file feed lands). Each is keyed by the row's primary key in Debezium's JSON key format, so Kafka's
partitioner keeps one customer's events in order on one partition while events of different
customers interleave across partitions. A delete is followed by its tombstone (the key with a
null value), as with the connector's default ``tombstones.on.delete``. ``redeliver`` sends a share
of the events a second time at the end, as a connector restarted after a crash re-sends what it had
not committed (Kafka Connect delivers at least once).

Spark's Kafka sink writes the records (the connector the lakehouse reads the topic with), from one
Spark partition so each Kafka partition receives its events in commit order.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from mssql_lakehouse_demo.debezium_export import EventSettings, events_by_day

RECORD_SCHEMA = T.StructType([T.StructField("key", T.StringType()), T.StructField("value", T.StringType())])


def key_json(payload: dict, settings: EventSettings) -> str:
    """The Kafka key Debezium gives an event (its ``payload``): the row's primary key, with the key
    schema if enabled."""
    row = payload["after"] or payload["before"]
    key = {settings.key: row[settings.key]}
    if not settings.with_schema:
        return json.dumps(key, separators=(",", ":"))
    schema = {
        "type": "struct",
        "fields": [{"type": "int32", "optional": False, "field": settings.key}],
        "optional": False,
        "name": f"{settings.topic}.Key",
    }
    return json.dumps({"schema": schema, "payload": key}, separators=(",", ":"))


def records(lines: Iterable[str], settings: EventSettings) -> list[tuple[str, str | None]]:
    """(key, value) records for event lines in commit order, each delete followed by its tombstone."""
    out: list[tuple[str, str | None]] = []
    for line in lines:
        event = json.loads(line)
        payload = event["payload"] if settings.with_schema else event
        key = key_json(payload, settings)
        out.append((key, line))
        if payload["op"] == "d":
            out.append((key, None))
    return out


def with_redeliveries(
    published: list[tuple[str, str | None]], share: float, seed: int = 0
) -> list[tuple[str, str | None]]:
    """``published`` followed by a deterministic ``share`` of its events (not tombstones) sent again."""
    events = [record for record in published if record[1] is not None]
    again = random.Random(seed).sample(events, round(len(events) * share))
    return published + again


def publish(
    spark: SparkSession,
    demo_dir: Path,
    bootstrap_servers: str,
    topic: str,
    *,
    days: Sequence[dt.date] | None = None,
    settings: EventSettings | None = None,
    redeliver: float = 0.0,
) -> int:
    """Publish the events of ``days`` (default: every day with changes); returns the records sent."""
    settings = settings or EventSettings()
    by_day = events_by_day(demo_dir, settings)
    chosen = list(by_day) if days is None else [day for day in by_day if day in set(days)]
    sent = with_redeliveries(records((line for day in chosen for line in by_day[day]), settings), redeliver)
    return send(spark, bootstrap_servers, topic, sent)


def send(spark: SparkSession, bootstrap_servers: str, topic: str, sent: list[tuple[str, str | None]]) -> int:
    """Write (key, value) records to ``topic`` in their order; returns how many."""
    if not sent:
        return 0
    (
        spark.createDataFrame(sent, RECORD_SCHEMA)
        .coalesce(1)
        .write.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap_servers)
        .option("topic", topic)
        .save()
    )
    return len(sent)
