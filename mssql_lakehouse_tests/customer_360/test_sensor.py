"""The change sensor with Dagster's sensor test utilities: requests, cursor, nothing twice."""

import datetime as dt
import os
import time
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from mssql_lakehouse.defs.customer_360.common import CHANGES, HISTORY, LANDED_FILES, LANDED_FOR_OTHER_DAYS, SNAPSHOT
from mssql_lakehouse.defs.customer_360.sensors import ChangeCursor, customer_changes_sensor, evaluate
from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
from mssql_lakehouse.lib.resources.deployment import resources_for
from mssql_lakehouse.lib.sources import MssqlSource
from mssql_lakehouse.lib.transforms.debezium import file_signatures, landed_files
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_tests.customer_360.change_streams import (
    debezium_lines,
    generate,
    sqlserver_rows,
    write_demo_cdc,
)
from mssql_lakehouse_tests.customer_360.test_assets import SLICE

DAYS = [dt.date(2026, 4, 1) + dt.timedelta(days=i) for i in range(3)]
UTC = ZoneInfo("UTC")


def landing(home):
    folder = home / "landing" / "debezium" / "customers"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def feed_resources(feed, erp_path):
    settings = LakehouseSettings.from_env()
    return {
        "customer_cdc": CustomerCdcSettings.from_settings(settings, feed=feed),
        "erp": MssqlSource.demo(erp_path, settings, database="erp"),
    }


def tick(instance, resources, cursor=None, now=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    if now is None:
        result = customer_changes_sensor(context)
    else:
        result = evaluate(context, resources["customer_cdc"], resources["erp"], now=now)
    days = [r.partition_key for r in (result.run_requests or [])]
    return result, days


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_new_files_request_their_days_once(lakehouse_home, instance):
    folder = landing(lakehouse_home)
    resources = feed_resources("debezium", lakehouse_home / "none.duckdb")
    stream = generate(31, DAYS, per_day=3)
    by_day = {d: [t for t in stream if t.day == d] for d in DAYS}
    (folder / "b.json").write_text("\n".join(debezium_lines(by_day[DAYS[0]] + by_day[DAYS[1]])) + "\n")

    result, days = tick(instance, resources)
    assert days == ["2026-04-01", "2026-04-02"]
    assert all(r.run_key.startswith(f"customer_changes:{r.partition_key}:") for r in result.run_requests)

    again, days_again = tick(instance, resources, cursor=result.cursor)
    assert days_again == [] and again.skip_reason is not None

    # A new file touching day 2 (late data) and day 3: both requested, with new run keys.
    (folder / "a.json").write_text("\n".join(debezium_lines(by_day[DAYS[2]] + by_day[DAYS[1]][:1])) + "\n")
    third, days_third = tick(instance, resources, cursor=again.cursor)
    assert days_third == ["2026-04-02", "2026-04-03"]
    old_keys = {r.run_key for r in result.run_requests}
    assert not old_keys & {r.run_key for r in third.run_requests}

    # A rewritten file with the same name is new data; tombstones and junk lines touch nothing.
    (folder / "junk.json").write_text("null\n\nnot json\n")
    fourth, days_fourth = tick(instance, resources, cursor=third.cursor)
    assert days_fourth == []
    os.utime(folder / "b.json", ns=(1, 1))
    _fifth, days_fifth = tick(instance, resources, cursor=fourth.cursor)
    assert days_fifth == ["2026-04-01", "2026-04-02"]


def test_a_day_not_over_yet_waits_in_the_cursor(lakehouse_home, instance):
    folder = landing(lakehouse_home)
    resources = feed_resources("debezium", lakehouse_home / "none.duckdb")
    stream = generate(32, DAYS, per_day=2)
    (folder / "x.json").write_text("\n".join(debezium_lines(stream)) + "\n")

    during_day_3 = dt.datetime(2026, 4, 3, 12, 0, tzinfo=UTC)
    first, days = tick(instance, resources, now=during_day_3)
    assert days == ["2026-04-01", "2026-04-02"]
    assert ChangeCursor.parse(first.cursor).pending.keys() == {"2026-04-03"}

    still, days = tick(instance, resources, cursor=first.cursor, now=during_day_3 + dt.timedelta(hours=6))
    assert days == []

    next_day = dt.datetime(2026, 4, 4, 0, 5, tzinfo=UTC)
    closed, days = tick(instance, resources, cursor=still.cursor, now=next_day)
    assert days == ["2026-04-03"]
    assert ChangeCursor.parse(closed.cursor).pending == {}


def test_the_cdc_max_lsn_advancing_requests_the_new_days(lakehouse_home, instance):
    path = lakehouse_home / "demo_erp" / "erp.duckdb"
    stream = generate(33, DAYS, per_day=3)
    first_two = [t for t in stream if t.day in DAYS[:2]]
    write_demo_cdc(path, first_two, DAYS[:2])
    resources = feed_resources("sqlserver", path)

    result, days = tick(instance, resources)
    assert days == ["2026-04-01", "2026-04-02"]
    cursor = ChangeCursor.parse(result.cursor)
    assert cursor.lsn == "0x" + max(t.commit_lsn for t in first_two).hex().upper()

    again, days = tick(instance, resources, cursor=result.cursor)
    assert days == []

    # Day 3 is captured: only day 3 runs (days 1 and 2 were complete when the cursor was taken).
    day3 = [t for t in stream if t.day == DAYS[2]]
    with duckdb.connect(str(path)) as con:
        con.executemany(
            'INSERT INTO cdc."dbo_Customer_CT" VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            [(r[0], r[1], r[2], r[3], *r[6:], r[4]) for r in sqlserver_rows(day3)],
        )
        con.executemany(
            "INSERT INTO cdc.lsn_time_mapping VALUES (?, ?, ?, ?, ?)",
            [(t.commit_lsn, t.commit_time, t.commit_time, t.lsn(0), t.lsn(1)) for t in day3],
        )
        con.execute("INSERT INTO demo.seeded_days VALUES (?)", [DAYS[2]])
    third, days = tick(instance, resources, cursor=again.cursor)
    assert days == ["2026-04-03"]
    assert ChangeCursor.parse(third.cursor).lsn == "0x" + max(t.commit_lsn for t in day3).hex().upper()


def stream_resources(lakehouse_home):
    return {
        "customer_cdc": CustomerCdcSettings.from_settings(
            LakehouseSettings.from_env(),
            feed="debezium",
            debezium_source="kafka",
            kafka_bootstrap_servers="127.0.0.1:9",
            kafka_topic="erp.dbo.Customer",
        ),
        "erp": MssqlSource.demo(lakehouse_home / "none.duckdb", LakehouseSettings.from_env()),
    }


def test_a_stream_s_days_are_requested_once_each_as_they_close(lakehouse_home, instance):
    resources = stream_resources(lakehouse_home)
    morning = dt.datetime(2026, 4, 3, 9, tzinfo=UTC)

    # A new cursor starts with the last complete day: its run lands what the stream holds.
    first, days = tick(instance, resources, now=morning)
    assert days == ["2026-04-02"]
    again, days = tick(instance, resources, cursor=first.cursor, now=morning + dt.timedelta(hours=6))
    assert days == []
    _later, days = tick(instance, resources, cursor=again.cursor, now=morning + dt.timedelta(days=2))
    assert days == ["2026-04-03", "2026-04-04"]


def test_a_day_a_stream_s_events_landed_for_is_requested_unless_applied_after_they_landed(lakehouse_home, instance):
    resources = stream_resources(lakehouse_home)
    morning = dt.datetime(2026, 4, 5, 9, tzinfo=UTC)
    for day in ("2026-04-01", "2026-04-02", "2026-04-04"):
        applied(instance, day)
    applied_at = time.time()
    first, days = tick(instance, resources, now=morning)
    assert days == []

    # A run of another day landed events of days applied before (1 April) and after (2 April) they
    # landed, of a day never applied (3 April) and of the day in progress (5 April).
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            CHANGES,
            partition="2026-04-04",
            metadata={
                LANDED_FOR_OTHER_DAYS: dg.MetadataValue.json(
                    {
                        "2026-04-01": applied_at + 60,
                        "2026-04-02": applied_at - 60,
                        "2026-04-03": applied_at - 60,
                        "2026-04-05": applied_at + 60,
                    }
                )
            },
        )
    )
    second, days = tick(instance, resources, cursor=first.cursor, now=morning)
    assert days == ["2026-04-01", "2026-04-03"]
    # Nothing is requested twice; the day in progress is requested once it is over.
    _third, days = tick(instance, resources, cursor=second.cursor, now=morning + dt.timedelta(days=1))
    assert days == ["2026-04-05"]


def test_a_new_snapshot_requests_the_day_that_applies_it_once(lakehouse_home, instance):
    path = lakehouse_home / "demo_erp" / "erp.duckdb"
    stream = generate(34, DAYS[:2], per_day=3)
    write_demo_cdc(path, stream, DAYS[:2])
    resources = feed_resources("sqlserver", path)
    first, days = tick(instance, resources)
    assert days == ["2026-04-01", "2026-04-02"]

    # The initial load lands after both days ran: its day must run again to apply it.
    snapshot_lsn = max(t.commit_lsn for t in stream).hex().upper()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(SNAPSHOT, metadata={"snapshot_lsn": snapshot_lsn, "apply_with_partition": "2026-04-02"})
    )
    after, days = tick(instance, resources, cursor=first.cursor)
    assert days == ["2026-04-02"] and "snapshot" in after.run_requests[0].run_key
    again, days = tick(instance, resources, cursor=after.cursor)
    assert days == [] and ChangeCursor.parse(again.cursor).snapshot_lsn == snapshot_lsn


def landed(instance, day):
    """What a successful run of ``day`` leaves: its history partition materialized, now."""
    instance.report_runless_asset_event(dg.AssetMaterialization(HISTORY, partition=day))


def applied(instance, day):
    """What a successful run of ``day`` from a stream leaves: its bronze and history partitions, now."""
    instance.report_runless_asset_event(dg.AssetMaterialization(CHANGES, partition=day))
    landed(instance, day)


def test_switched_on_after_a_backfill_cdc_requests_only_the_days_not_landed(lakehouse_home, instance):
    path = lakehouse_home / "demo_erp" / "erp.duckdb"
    stream = generate(35, DAYS, per_day=3)
    write_demo_cdc(path, stream, DAYS)
    resources = feed_resources("sqlserver", path)
    for day in DAYS[:2]:
        landed(instance, day.isoformat())

    # A new cursor (sensor switched on, or reset): the closed days runs already landed are done.
    _result, days = tick(instance, resources)
    assert days == ["2026-04-03"]

    # A snapshot landed after day 1 ran still needs day 1 run again to apply it.
    snapshot_lsn = max(t.commit_lsn for t in stream if t.day == DAYS[0]).hex().upper()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(SNAPSHOT, metadata={"snapshot_lsn": snapshot_lsn, "apply_with_partition": "2026-04-01"})
    )
    _result, days = tick(instance, resources)
    assert days == ["2026-04-01", "2026-04-03"]


def test_switched_on_after_the_initial_load_cdc_requests_no_day_before_its_capture_day(lakehouse_home, instance):
    """As after `make demo`: the ERP holds changes of a day before the snapshot's (the finance
    close's month end), and the runs started at the snapshot's capture day."""
    path = lakehouse_home / "demo_erp" / "erp.duckdb"
    stream = generate(38, DAYS, per_day=3)
    write_demo_cdc(path, stream, DAYS)
    resources = feed_resources("sqlserver", path)
    snapshot_lsn = max(t.commit_lsn for t in stream if t.day == DAYS[1]).hex().upper()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            SNAPSHOT, metadata={"snapshot_lsn": snapshot_lsn, "apply_with_partition": DAYS[1].isoformat()}
        )
    )
    for day in DAYS[1:]:
        landed(instance, day.isoformat())

    _result, days = tick(instance, resources)
    assert days == []


def test_switched_on_after_a_backfill_files_request_only_the_days_of_files_not_read(lakehouse_home, instance):
    folder = landing(lakehouse_home)
    resources = feed_resources("debezium", lakehouse_home / "none.duckdb")
    by_day = {d: [t for t in generate(36, DAYS, per_day=3) if t.day == d] for d in DAYS}
    (folder / "a.json").write_text("\n".join(debezium_lines(by_day[DAYS[0]] + by_day[DAYS[1]])) + "\n")
    (folder / "b.json").write_text("\n".join(debezium_lines(by_day[DAYS[2]])) + "\n")
    read = file_signatures(landed_files(str(folder)))
    for day in DAYS:
        # What a run of the day records: its bronze read these files, then its history was written.
        instance.report_runless_asset_event(
            dg.AssetMaterialization(CHANGES, partition=day.isoformat(), metadata={LANDED_FILES: read})
        )
        landed(instance, day.isoformat())

    _result, days = tick(instance, resources)
    assert days == []

    # A file changed after the runs read it (late events for day 1 and 2) brings its days back.
    later = time.time_ns() + 10**9
    os.utime(folder / "a.json", ns=(later, later))
    _result, days = tick(instance, resources)
    assert days == ["2026-04-01", "2026-04-02"]


def test_switched_on_after_runs_a_file_landed_with_an_older_modification_time_requests_its_day(
    spark, lakehouse_home, instance
):
    """A copy that keeps the source's modification time (``cp -p``, ``rsync -a``, most sync tools)
    can land after the runs with a time older than they are: its day was not read, whatever the time."""
    folder = landing(lakehouse_home)
    resources = feed_resources("debezium", lakehouse_home / "none.duckdb")
    stream = generate(37, DAYS[:2], per_day=3)
    late = [t for t in stream if t.day == DAYS[1]][-1]
    (folder / "a.json").write_text("\n".join(debezium_lines([t for t in stream if t != late])) + "\n")
    exported = os.stat(folder / "a.json").st_mtime_ns
    run_resources = {**resources_for(LakehouseSettings.from_env()), **resources}
    for day in DAYS[:2]:
        assert dg.materialize(SLICE, resources=run_resources, partition_key=day.isoformat(), instance=instance).success

    _result, days = tick(instance, resources)
    assert days == []

    # Exported with a.json, copied into the landing folder after the runs with its time kept.
    (folder / "b.json").write_text("\n".join(debezium_lines([late])) + "\n")
    os.utime(folder / "b.json", ns=(exported, exported))
    _result, days = tick(instance, resources)
    assert days == [DAYS[1].isoformat()]
