"""Customer 360 from a real Kafka topic: the demo's Debezium events, published as the connector would
(keyed, across partitions, with tombstones and redeliveries), consumed by ``bronze/customer_changes``
with Structured Streaming (``availableNow``) and a checkpoint.

The oracle is the file feed on the same events: silver built from the topic must equal silver built
from the landed files, whatever order the days run in and however often the events were delivered.
"""

import datetime as dt
import json
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable
from pyspark.sql import functions as F

from mssql_lakehouse.definitions import build_defs
from mssql_lakehouse.defs.customer_360.common import CHANGES, CUSTOMERS, HISTORY, business_day_zone
from mssql_lakehouse.defs.customer_360.sensors import customer_changes_sensor, evaluate
from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
from mssql_lakehouse.lib.resources.deployment import resources_for
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_demo import seed
from mssql_lakehouse_demo.cli.demo import demo as demo_cli
from mssql_lakehouse_demo.debezium_export import EventSettings, events_by_day, export
from mssql_lakehouse_demo.debezium_publish import publish, records, send
from mssql_lakehouse_demo.kafka_broker import KafkaBroker
from mssql_lakehouse_tests.customer_360.change_streams import CURRENT_COLUMNS, HISTORY_COLUMNS, rows
from mssql_lakehouse_tests.customer_360.test_assets import SLICE, table
from mssql_lakehouse_tests.faults.processes import (
    Materialization,
    dagster_instance_home,
    kill_before_commit,
    start_materialize,
)
from mssql_lakehouse_tests.sensors.daemon import Daemon

FIRST_DAY = dt.date(2026, 5, 4)
DAYS = [FIRST_DAY, FIRST_DAY + dt.timedelta(days=1)]
EVENTS = EventSettings(with_schema=False)
# What identifies an event in bronze, whichever feed delivered it.
# The bronze step: its table and quarantine are one multi-asset.
SELECT = "bronze/customer_changes,bronze/customer_changes_quarantine"
EVENT_COLUMNS = ("commit_lsn", "change_lsn", "operation", "commit_time", "CustomerID", "Email", "CreditLimit")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    demo_dir = tmp_path_factory.mktemp("kafka_demo")
    seed(demo_dir, FIRST_DAY, len(DAYS), 0.05, regions=["amer"])
    return demo_dir


def resources(home: Path, demo: Path, monkeypatch: pytest.MonkeyPatch, **feed: str) -> dict:
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    monkeypatch.setenv("LAKEHOUSE_DEMO_ERP_DIR", str(demo))
    settings = LakehouseSettings.from_env()
    return {
        **resources_for(settings),
        "customer_cdc": CustomerCdcSettings.from_settings(settings, feed="debezium", **feed),
    }


def feed_env(demo: Path, broker: KafkaBroker, topic: str) -> dict[str, str]:
    """The environment of a lakehouse whose Customer 360 is fed by ``topic``, with the demo ERP at ``demo``."""
    return {
        "LAKEHOUSE_DEMO_ERP_DIR": str(demo),
        "LAKEHOUSE_CDC_FEED": "debezium",
        "LAKEHOUSE_DEBEZIUM_SOURCE": "kafka",
        "LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "LAKEHOUSE_KAFKA_TOPIC": topic,
    }


def silver(spark, home: Path) -> tuple:
    return (
        rows(table(spark, home, HISTORY), HISTORY_COLUMNS),
        rows(table(spark, home, CUSTOMERS), CURRENT_COLUMNS),
        sorted(tuple(r) for r in table(spark, home, CHANGES).select(*EVENT_COLUMNS).collect()),
    )


def test_publish_debezium_keys_each_event_by_its_customer_and_follows_a_delete_with_its_tombstone(
    spark, demo, kafka_broker, monkeypatch
):
    topic = f"published-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=3)
    monkeypatch.setenv("LAKEHOUSE_DEMO_ERP_DIR", str(demo))
    day = DAYS[0].isoformat()
    arguments = ["publish-debezium", "--bootstrap", kafka_broker.bootstrap_servers, "--topic", topic, "--day", day]
    result = CliRunner().invoke(demo_cli, arguments)
    assert result.exit_code == 0, result.output

    records = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", kafka_broker.bootstrap_servers)
        .option("subscribe", topic)
        .load()
        .select(F.col("key").cast("string").alias("key"), F.col("value").cast("string").alias("value"), "partition")
        .collect()
    )
    events = events_by_day(demo, EventSettings())[DAYS[0]]
    deletes = sum(json.loads(line)["payload"]["op"] == "d" for line in events)
    assert f"{len(events) + deletes} record(s) published" in result.output
    assert sorted(r["value"] for r in records if r["value"] is not None) == sorted(events)
    assert sum(r["value"] is None for r in records) == deletes > 0
    # One customer's records all on one partition, so they stay in commit order.
    partitions: dict[int, set[int]] = {}
    for r in records:
        partitions.setdefault(json.loads(r["key"])["payload"]["CustomerID"], set()).add(r["partition"])
    assert all(len(p) == 1 for p in partitions.values()) and len({r["partition"] for r in records}) > 1


@pytest.fixture(scope="module")
def file_feed_silver(spark, demo, tmp_path_factory) -> tuple:
    """The oracle: silver built from the landed files of every day's events, the newest day run first."""
    home = tmp_path_factory.mktemp("files")
    export(demo, home / "landing" / "debezium" / "customers", settings=EVENTS)
    with pytest.MonkeyPatch.context() as mp:
        files = resources(home, demo, mp)
        for day in reversed(DAYS):
            assert dg.materialize(SLICE, resources=files, partition_key=day.isoformat()).success
    return silver(spark, home)


def test_silver_from_the_topic_equals_silver_from_the_files_for_the_same_events(
    spark, demo, kafka_broker, file_feed_silver, tmp_path, monkeypatch
):
    expected = file_feed_silver
    topic = f"customers-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=3)
    # Both days in one batch, a fifth of the events delivered twice.
    sent = publish(spark, demo, kafka_broker.bootstrap_servers, topic, settings=EVENTS, redeliver=0.2)
    kafka_home = tmp_path / "kafka"
    stream = resources(
        kafka_home,
        demo,
        monkeypatch,
        debezium_source="kafka",
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        kafka_topic=topic,
    )
    # Newest day first: its run consumes both days' events; the older day's run finds them landed.
    for day in reversed(DAYS):
        assert dg.materialize(SLICE, resources=stream, partition_key=day.isoformat()).success
    assert silver(spark, kafka_home) == expected

    # Every record landed once, with its lineage (read back by an independent reader).
    raw = DeltaTable(str(kafka_home / "streams" / "debezium" / "raw_events")).to_pyarrow_table().to_pylist()
    assert len(raw) == sent
    assert len({(r["_kafka_partition"], r["_kafka_offset"]) for r in raw}) == sent
    assert {r["_kafka_topic"] for r in raw} == {topic} and {r["_kafka_partition"] for r in raw} == {0, 1, 2}
    assert all(r["_kafka_timestamp"] is not None for r in raw)

    # A replay consumes nothing new and changes nothing.
    assert dg.materialize(SLICE, resources=stream, partition_key=DAYS[-1].isoformat()).success
    assert silver(spark, kafka_home) == expected
    assert len(DeltaTable(str(kafka_home / "streams" / "debezium" / "raw_events")).to_pyarrow_table()) == sent


def test_events_published_after_a_day_was_applied_reach_silver_when_the_day_runs_again(
    spark, demo, kafka_broker, tmp_path, monkeypatch
):
    topic = f"late-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=3)
    home = tmp_path / "kafka"
    stream = resources(
        home,
        demo,
        monkeypatch,
        debezium_source="kafka",
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        kafka_topic=topic,
    )
    by_day = events_by_day(demo, EVENTS)
    first, second = sorted(by_day)[:2]
    publish(spark, demo, kafka_broker.bootstrap_servers, topic, days=[first], settings=EVENTS)
    assert dg.materialize(SLICE, resources=stream, partition_key=first.isoformat()).success
    assert table(spark, home, CHANGES).count() == len(by_day[first])

    # The second day's events arrive, and the first day's again (a connector re-sending them).
    publish(spark, demo, kafka_broker.bootstrap_servers, topic, days=[first, second], settings=EVENTS)
    for day in (first, second):
        assert dg.materialize(SLICE, resources=stream, partition_key=day.isoformat()).success
    assert table(spark, home, CHANGES).count() == len(by_day[first]) + len(by_day[second])


def test_a_run_killed_while_landing_the_topic_lands_each_record_once_when_run_again(
    spark, demo, kafka_broker, tmp_path
):
    topic = f"killed-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=3)
    home = tmp_path / "home"
    home.mkdir()
    dagster_home = dagster_instance_home(tmp_path / "dagster_home")
    feed = feed_env(demo, kafka_broker, topic)
    day = DAYS[-1].isoformat()
    raw = home / "streams" / "debezium" / "raw_events"
    published = []

    def start(attempt: int) -> Materialization:
        # Every attempt finds records it has not consumed: the events (again, for a later attempt).
        published.append(publish(spark, demo, kafka_broker.bootstrap_servers, topic))
        return start_materialize(home, SELECT, day, name=f"killed_{attempt}", extra_env=feed, dagster_home=dagster_home)

    kill_before_commit(start, raw)
    start_materialize(home, SELECT, day, name="again", extra_env=feed, dagster_home=dagster_home).wait_success()

    landed = DeltaTable(str(raw)).to_pyarrow_table().to_pylist()
    assert len(landed) == sum(published)
    assert len({(r["_kafka_partition"], r["_kafka_offset"]) for r in landed}) == sum(published)
    bronze = DeltaTable(str(home / "tables" / "bronze" / "customer_changes")).to_pyarrow_table().to_pylist()
    assert len(bronze) == len(events_by_day(demo, EventSettings())[DAYS[-1]])


def tick_at(daemon: Daemon, now: dt.datetime) -> list[dg.RunRequest]:
    """One tick of the sensor at ``now`` with the code location's resources, as the daemon evaluates it,
    then each run it requested, in process in the daemon's instance; every run must succeed."""
    context = daemon.context()
    result = evaluate(context, context.resources.customer_cdc, context.resources.erp, now=now)
    daemon.cursor = result.cursor
    requests = list(result.run_requests or [])
    for request in requests:
        run = daemon.launch(request)
        assert run is not None and run.success, request
    return requests


def days_until_quiet(daemon: Daemon, now: dt.datetime) -> list[list[str]]:
    """Tick and run until a tick requests nothing; the days each tick requested (gold refreshes left out)."""
    ticks = []
    while requests := tick_at(daemon, now):
        ticks.append([r.partition_key for r in requests if r.partition_key is not None])
        assert len(ticks) < 8, ticks
    return [days for days in ticks if days]


def test_the_sensor_runs_each_closed_day_and_reapplies_the_days_later_events_reached(
    spark, demo, kafka_broker, file_feed_silver, tmp_path, monkeypatch
):
    topic = f"sensed-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=3)
    for name, value in {"LAKEHOUSE_HOME": str(tmp_path), **feed_env(demo, kafka_broker, topic)}.items():
        monkeypatch.setenv(name, value)
    defs = build_defs(LakehouseSettings.from_env(), slices=("customer_360",))
    by_day = events_by_day(demo, EVENTS)
    first, second = DAYS
    early, late = by_day[first][: len(by_day[first]) // 2], by_day[first][len(by_day[first]) // 2 :]
    zone = ZoneInfo(business_day_zone())
    day_after = dt.datetime.combine(second + dt.timedelta(days=1), dt.time(9), zone)
    with dg.instance_for_test() as instance:
        daemon = Daemon.of(defs, instance, customer_changes_sensor)
        send(spark, kafka_broker.bootstrap_servers, topic, records(early, EVENTS))

        # Switched on the morning after the second day: that day's run lands what the topic holds, the
        # first day's early events; the next tick requests their day, never applied.
        assert days_until_quiet(daemon, day_after) == [[second.isoformat()], [first.isoformat()]]

        # The rest of the first day's events arrive late, with the second day's and a redelivery of the early ones.
        send(spark, kafka_broker.bootstrap_servers, topic, records(late + by_day[second] + early, EVENTS))
        # No run has landed them yet: a stream is not visible to the sensor until a run lands it.
        assert tick_at(daemon, day_after) == []
        # The next day's run lands them; both days they reach were applied before, so both run again.
        next_day = day_after + dt.timedelta(days=1)
        assert days_until_quiet(daemon, next_day) == [
            [(second + dt.timedelta(days=1)).isoformat()],
            [first.isoformat(), second.isoformat()],
        ]
        assert silver(spark, tmp_path) == file_feed_silver
        # A replay requests nothing.
        assert tick_at(daemon, next_day) == []


def test_two_runs_landing_the_topic_at_once_land_each_record_once(spark, demo, kafka_broker, tmp_path):
    topic = f"concurrent-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=3)
    sent = publish(spark, demo, kafka_broker.bootstrap_servers, topic)
    home = tmp_path / "home"
    home.mkdir()
    dagster_home = dagster_instance_home(tmp_path / "dagster_home")
    feed = feed_env(demo, kafka_broker, topic)
    # Two days run at once, as two users or a sensor and a backfill would: both consume the topic.
    runs = [
        start_materialize(home, SELECT, day.isoformat(), name=f"day_{i}", extra_env=feed, dagster_home=dagster_home)
        for i, day in enumerate(DAYS)
    ]
    for run in runs:
        run.wait_success()
        # The later one waited for the other's landing rather than failing on their shared checkpoint.
        assert "STEP_UP_FOR_RETRY" not in run.output()

    landed = DeltaTable(str(home / "streams" / "debezium" / "raw_events")).to_pyarrow_table().to_pylist()
    assert len({(r["_kafka_partition"], r["_kafka_offset"]) for r in landed}) == len(landed) == sent
    bronze = DeltaTable(str(home / "tables" / "bronze" / "customer_changes")).to_pyarrow_table().to_pylist()
    by_day = events_by_day(demo, EventSettings())
    assert len(bronze) == sum(len(by_day[day]) for day in DAYS)
