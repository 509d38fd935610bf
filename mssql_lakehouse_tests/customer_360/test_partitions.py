"""Every Customer 360 table is partitioned by day: the snapshot by its capture day, gold as of each day's end.

Gold is checked against what a user computes from the SCD2 history read with the ``deltalake``
package (not Spark, not the code under test): the versions valid at the end of the day, with the
sales facts of the orders up to that day.
"""

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
from deltalake import DeltaTable

from mssql_lakehouse.defs.customer_360.bronze import customer_snapshot
from mssql_lakehouse.defs.customer_360.common import CUSTOMER_360, HISTORY, SNAPSHOT
from mssql_lakehouse.defs.customer_360.gold import customer_360
from mssql_lakehouse.defs.customer_360.sensors import ChangeCursor, evaluate
from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
from mssql_lakehouse.lib.requested_runs import RANGE_END_TAG, RANGE_START_TAG, RUN_KEY_TAG
from mssql_lakehouse.lib.resources.deployment import resources_for
from mssql_lakehouse.lib.sources import MssqlSource
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_demo import seed
from mssql_lakehouse_tests.customer_360.change_streams import SILVER, debezium_lines, generate, oracle
from mssql_lakehouse_tests.customer_360.test_assets import DAYS, SLICE, land, materialize_days

# The feed tests' small demo ERP: two seeded days, customers that predate its CDC.
from mssql_lakehouse_tests.customer_360.test_demo_feeds import DAYS as DEMO_DAYS
from mssql_lakehouse_tests.customer_360.test_demo_feeds import demo  # noqa: F401 (a fixture)

GOLD_DAYS = DAYS[:3]
FACTS = ("order_count", "net_revenue", "first_order_date", "last_order_date")
GOLD_COLUMNS = ("as_of_date", *SILVER, "profile_valid_from", *FACTS)
CANCELLED = 6
ORDERS = [  # sales_order_id, customer_id, order_date, status, line amounts
    (1, 1, GOLD_DAYS[0], 5, [Decimal("10.5000"), Decimal("2.2500")]),
    (2, 1, GOLD_DAYS[1], 5, [Decimal("100.0000")]),
    (3, 1, GOLD_DAYS[1], CANCELLED, [Decimal("999.0000")]),
    (4, 2, GOLD_DAYS[2], 5, [Decimal("7.0000")]),
    (5, 3, GOLD_DAYS[0], 5, [Decimal("1.0000"), Decimal("1.0000")]),
]


def delta(home: Path, key: dg.AssetKey, columns) -> list[dict]:
    table = DeltaTable(str(home / "tables" / key.path[0] / key.path[1]))
    return table.to_pyarrow_table(columns=list(columns)).to_pylist()


def write_sales(spark, home: Path) -> None:
    silver = home / "tables" / "silver"
    spark.createDataFrame(
        [(o, c, d, s) for o, c, d, s, _ in ORDERS], "sales_order_id int, customer_id int, order_date date, status int"
    ).write.format("delta").save(str(silver / "sales_orders"))
    spark.createDataFrame(
        [(o, amount) for o, _, _, _, amounts in ORDERS for amount in amounts],
        "sales_order_id int, line_net_amount decimal(19,4)",
    ).write.format("delta").save(str(silver / "sales_order_lines"))


def facts_as_of(customer: int, day: dt.date) -> tuple:
    orders = [(d, sum(amounts)) for _, c, d, s, amounts in ORDERS if c == customer and d <= day and s != CANCELLED]
    if not orders:
        return 0, Decimal("0.0000"), None, None
    dates = [d for d, _ in orders]
    return len(orders), sum(n for _, n in orders), min(dates), max(dates)


def expected_gold(home: Path, days) -> list[tuple]:
    """Each day's customers whose SCD2 version is valid at the day's end, from the history as written."""
    history = delta(home, HISTORY, [*SILVER, "valid_from", "valid_to"])
    rows = []
    for day in days:
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
        for v in history:
            if v["valid_from"] < end and (v["valid_to"] is None or v["valid_to"] >= end):
                rows.append((day, *(v[c] for c in SILVER), v["valid_from"], *facts_as_of(v["customer_id"], day)))
    return sorted(rows, key=repr)


def gold_rows(home: Path) -> list[tuple]:
    return sorted((tuple(r[c] for c in GOLD_COLUMNS) for r in delta(home, CUSTOMER_360, GOLD_COLUMNS)), key=repr)


def gold_range(resources, first: dt.date, last: dt.date, run_tags: dict | None = None, **kwargs) -> None:
    """One run of gold/customer_360 over the days first..last (a single-run backfill)."""
    tags = {**(run_tags or {}), RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}
    assert dg.materialize(
        [*SLICE, customer_360], selection=[customer_360], resources=resources, tags=tags, **kwargs
    ).success


def test_gold_is_each_days_valid_versions_a_backfill_equals_the_days_one_by_one_and_a_replay_changes_nothing(
    spark, tmp_path, monkeypatch
):
    stream = generate(41, GOLD_DAYS, per_day=8)
    gold = {}
    for how in ("newest_first", "backfill"):
        home = tmp_path / how
        monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
        land(home, debezium_lines(stream), files=2, rng=random.Random(41))
        write_sales(spark, home)
        resources = {
            **resources_for(LakehouseSettings.from_env()),
            "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), feed="debezium"),
        }
        materialize_days(resources, GOLD_DAYS)
        if how == "newest_first":
            for day in reversed(GOLD_DAYS):
                gold_range(resources, day, day)
        else:
            gold_range(resources, GOLD_DAYS[0], GOLD_DAYS[-1])
        gold[how] = gold_rows(home)
        assert gold[how] == expected_gold(home, GOLD_DAYS)
        assert {r[0] for r in gold[how]} == set(GOLD_DAYS)
    assert gold["newest_first"] == gold["backfill"]

    gold_range(resources, GOLD_DAYS[1], GOLD_DAYS[1])  # a replay
    assert gold_rows(tmp_path / "backfill") == gold["backfill"]


def test_a_late_change_refreshes_its_day_and_the_later_gold_days(spark, lakehouse_home):
    """The sensor's day run refreshes the day's gold; the later gold days it reached get one refresh run."""
    stream = generate(42, GOLD_DAYS, per_day=6)
    late = [t for t in stream if t.day == GOLD_DAYS[0]][-1]
    folder = lakehouse_home / "landing" / "debezium" / "customers"
    folder.mkdir(parents=True)
    (folder / "a.json").write_text("\n".join(debezium_lines([t for t in stream if t != late])) + "\n")
    write_sales(spark, lakehouse_home)
    settings = CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), feed="debezium")
    resources = {**resources_for(LakehouseSettings.from_env()), "customer_cdc": settings}
    erp = MssqlSource.demo(lakehouse_home / "none.duckdb", LakehouseSettings.from_env())
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

    with dg.instance_for_test() as instance:
        cursor = None

        def tick() -> list[dg.RunRequest]:
            nonlocal cursor
            result = evaluate(dg.build_sensor_context(instance=instance, cursor=cursor), settings, erp, now=now)
            cursor = result.cursor
            return list(result.run_requests or [])

        def run(request: dg.RunRequest) -> None:
            tags = {**request.tags, RUN_KEY_TAG: request.run_key}  # as the daemon tags a sensor's run
            if request.partition_key is not None:
                assert request.asset_selection is None  # the sensor's whole target: bronze, silver and gold
                assert dg.materialize(
                    [*SLICE, customer_360],
                    resources=resources,
                    partition_key=request.partition_key,
                    instance=instance,
                    tags=tags,
                ).success
            else:
                assert request.asset_selection == [CUSTOMER_360]
                days = [dt.date.fromisoformat(request.tags[k]) for k in (RANGE_START_TAG, RANGE_END_TAG)]
                gold_range(resources, *days, instance=instance, run_tags=tags)

        first = tick()
        assert [r.partition_key for r in first] == [d.isoformat() for d in GOLD_DAYS]
        for request in first:
            run(request)
        assert tick() == []  # each gold day was written after the history it reads
        assert gold_rows(lakehouse_home) == expected_gold(lakehouse_home, GOLD_DAYS)

        (folder / "b.json").write_text("\n".join(debezium_lines([late])) + "\n")
        [late_day] = tick()
        assert late_day.partition_key == GOLD_DAYS[0].isoformat()
        run(late_day)
        [refresh] = tick()
        assert refresh.partition_key is None
        assert (refresh.tags[RANGE_START_TAG], refresh.tags[RANGE_END_TAG]) == (
            GOLD_DAYS[1].isoformat(),
            GOLD_DAYS[2].isoformat(),
        )
        run(refresh)
        assert tick() == []
        assert ChangeCursor.parse(cursor).requested == []  # every requested run succeeded

    history, _ = oracle(stream)  # the late change is in the history, and so in every gold day it reaches
    assert len(delta(lakehouse_home, HISTORY, ["valid_from_lsn"])) == len(history)
    assert gold_rows(lakehouse_home) == expected_gold(lakehouse_home, GOLD_DAYS)


def test_the_snapshot_lands_in_its_capture_day_and_a_run_for_another_day_is_refused(demo, tmp_path, monkeypatch):  # noqa: F811 (the imported fixture)
    home = tmp_path / "snapshot_partition"
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    monkeypatch.setenv("LAKEHOUSE_DEMO_ERP_DIR", str(demo))
    resources = {
        **resources_for(LakehouseSettings.from_env()),
        "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), feed="sqlserver"),
    }
    capture_day, other_day = DEMO_DAYS[-1], DEMO_DAYS[0]
    columns = ["CustomerID", "change_position", "commit_lsn", "commit_time", "FirstName", "Email", "CreditLimit"]

    refused = dg.materialize(
        [customer_snapshot], resources=resources, partition_key=other_day.isoformat(), raise_on_error=False
    )
    assert not refused.success
    message = refused.failure_data_for_node("bronze__customer_snapshot").error.message
    assert f"capture day is {capture_day.isoformat()}" in message
    assert not (home / "tables" / "bronze" / "customer_snapshot").exists()

    def land_snapshot() -> list[tuple]:
        result = dg.materialize([customer_snapshot], resources=resources, partition_key=capture_day.isoformat())
        assert result.success
        [event] = result.get_asset_materialization_events()
        assert event.partition == capture_day.isoformat()
        assert event.materialization.metadata["apply_with_partition"].value == capture_day.isoformat()
        return sorted((tuple(r[c] for c in columns) for r in delta(home, SNAPSHOT, columns)), key=repr)

    landed = land_snapshot()
    assert landed and {r[columns.index("commit_time")].date() for r in landed} == {capture_day}
    assert land_snapshot() == landed  # a replay of the day: the same snapshot rows, once


def test_a_snapshot_read_while_the_erp_is_written_to_lands_in_the_day_in_progress(tmp_path, monkeypatch):
    """On an ERP in use the capture instance's max LSN is in the day in progress; its snapshot can be landed now."""
    home, demo_dir = tmp_path / "lakehouse", tmp_path / "demo"
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    monkeypatch.setenv("LAKEHOUSE_DEMO_ERP_DIR", str(demo_dir))
    settings = LakehouseSettings.from_env()
    today = dt.datetime.now(ZoneInfo(settings.erp_timezone)).date()
    seed(demo_dir, today, 1, 0.01, regions=["amer"])
    resources = {
        **resources_for(settings),
        "customer_cdc": CustomerCdcSettings.from_settings(settings, feed="sqlserver"),
    }

    result = dg.materialize([customer_snapshot], resources=resources, partition_key=today.isoformat())

    [event] = result.get_asset_materialization_events()
    assert event.partition == today.isoformat()
    assert event.materialization.metadata["apply_with_partition"].value == today.isoformat()
    assert {r["commit_time"].date() for r in delta(home, SNAPSHOT, ["commit_time"])} == {today}
