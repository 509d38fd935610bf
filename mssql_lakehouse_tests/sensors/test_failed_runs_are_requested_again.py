"""A run a sensor requested that failed is requested again on later ticks, a bounded number of times,
and its failure is recorded in ``ops/run_alerts``.

Each sensor is evaluated as the daemon evaluates it and its runs execute in the lakehouse's
instance; a run fails because a folder it reads or writes is unusable while it runs.
"""

import datetime as dt

import dagster as dg

from mssql_lakehouse.defs.customer_360.sensors import customer_changes_sensor
from mssql_lakehouse.defs.inventory.sensors import inventory_file_arrival
from mssql_lakehouse.defs.run_alerts.sensors import record_failed_runs
from mssql_lakehouse.defs.sales.sensors import sales_late_data
from mssql_lakehouse.lib import run_alerts
from mssql_lakehouse_demo import seed
from mssql_lakehouse_demo.inventory_export import export_inventory
from mssql_lakehouse_tests.customer_360.change_streams import debezium_lines, generate
from mssql_lakehouse_tests.sensors.conftest import unusable
from mssql_lakehouse_tests.sensors.daemon import Daemon

DAY = dt.date(2026, 11, 1)
MAX_ATTEMPTS = 3


def failed_runs_recorded(lh) -> list[tuple[str, str]]:
    uri = lh.defs.resources["run_alerts"].uri
    return sorted((a["job_name"], a["partition"]) for a in run_alerts.read(uri) if a["kind"] == "run_failure")


def window(request: dg.RunRequest) -> str:
    return f"{request.tags['dagster/asset_partition_range_start']}..{request.tags['dagster/asset_partition_range_end']}"


def one_request(daemon: Daemon, **launch) -> tuple[dg.RunRequest, dg.ExecuteInProcessResult]:
    tick, results = daemon.tick_and_launch(**launch)
    assert len(tick.requests) == 1, (tick.requests, tick.skip_message)
    return tick.requests[0], results[0]


def test_a_failed_late_data_refresh_is_requested_again_until_it_succeeds(make_lakehouse):
    lh = make_lakehouse("late_data_retries")
    seed(lh.demo_dir, DAY, 1, 0.02)
    alerts = Daemon.of(lh.defs, lh.instance, record_failed_runs)
    alerts.tick()  # the failure sensor starts from the newest event, as when the daemon starts it
    lh.execute("sales_nightly", partition_key=DAY.isoformat())  # its late orders make older gold days stale
    sensor = Daemon.of(lh.defs, lh.instance, sales_late_data)

    first, failed = one_request(sensor, during=lambda: unusable(lh.home / "tables" / "silver"))
    assert not failed.success
    second, failed_again = one_request(sensor, during=lambda: unusable(lh.home / "tables" / "silver"))
    assert not failed_again.success
    assert second.run_key != first.run_key
    assert second.tags["dagster/asset_partition_range_start"] == first.tags["dagster/asset_partition_range_start"]
    assert second.tags["dagster/asset_partition_range_end"] == first.tags["dagster/asset_partition_range_end"]
    assert any(f"Requesting {window(first)} again: attempt 1 of {MAX_ATTEMPTS}" in line for line in sensor.ticks[1].log)

    third, succeeded = one_request(sensor)
    assert succeeded.success and third.tags["lakehouse/attempt"] == "3"
    assert sensor.tick().requests == []  # done: nothing more to request

    alerts.tick()
    assert failed_runs_recorded(lh) == [("sales_gold_refresh", window(first))] * 2


def test_an_inventory_partition_whose_runs_keep_failing_is_requested_a_bounded_number_of_times(make_lakehouse):
    lh = make_lakehouse("inventory_retries")
    seed(lh.demo_dir, DAY, 1, 0.01, regions=["amer"])
    export_inventory(lh.spark, lh.demo_dir, DAY, "amer", lh.home / "landing" / "inventory" / "amer" / DAY.isoformat())
    alerts = Daemon.of(lh.defs, lh.instance, record_failed_runs)
    alerts.tick()
    sensor = Daemon.of(lh.defs, lh.instance, inventory_file_arrival)

    keys = set()
    for _attempt in range(1, MAX_ATTEMPTS + 1):
        request, result = one_request(sensor, during=lambda: unusable(lh.home / "tables" / "bronze"))
        assert request.partition_key == f"{DAY}|amer" and not result.success
        keys.add(request.run_key)
    assert len(keys) == MAX_ATTEMPTS

    gave_up = sensor.tick()
    assert gave_up.requests == []
    assert f"Gave up on {DAY}|amer after {MAX_ATTEMPTS} failed attempts" in gave_up.skip_message
    assert any("Gave up" in line for line in gave_up.log)
    assert sensor.tick().requests == []

    alerts.tick()
    assert failed_runs_recorded(lh) == [("inventory", f"{DAY}|amer")] * MAX_ATTEMPTS

    # New files for the partition are new input: requested again, and the run succeeds.
    export_inventory(
        lh.spark, lh.demo_dir, DAY, "amer", lh.home / "landing" / "inventory" / "amer" / DAY.isoformat(), "csv"
    )
    request, result = one_request(sensor)
    assert request.tags["lakehouse/attempt"] == "1" and result.success


def test_a_failed_customer_360_day_is_requested_again_and_recorded(make_lakehouse, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_CDC_FEED", "debezium")
    lh = make_lakehouse("customer_360_retries")
    days = [dt.date(2026, 4, 1)]
    folder = lh.home / "landing" / "debezium" / "customers"
    folder.mkdir(parents=True)
    (folder / "changes.json").write_text("\n".join(debezium_lines(generate(41, days, per_day=3))) + "\n")
    alerts = Daemon.of(lh.defs, lh.instance, record_failed_runs)
    alerts.tick()
    sensor = Daemon.of(lh.defs, lh.instance, customer_changes_sensor)

    first, failed = one_request(sensor, during=lambda: unusable(lh.home / "tables" / "bronze"))
    assert first.partition_key == "2026-04-01" and not failed.success
    second, succeeded = one_request(sensor)
    assert second.partition_key == "2026-04-01" and second.run_key != first.run_key
    assert succeeded.success
    assert sensor.tick().requests == []

    alerts.tick()
    assert failed_runs_recorded(lh) == [(customer_changes_sensor.job_name, "2026-04-01")]
