"""The Customer 360 assets end to end: real Spark, real Delta tables, the real source layer on a demo file."""

import datetime as dt
import json
import random
from decimal import Decimal

import dagster as dg
import pytest

from mssql_lakehouse.defs.customer_360.bronze import customer_changes
from mssql_lakehouse.defs.customer_360.checks import cdc_lag
from mssql_lakehouse.defs.customer_360.common import CHANGES, CUSTOMERS, HISTORY
from mssql_lakehouse.defs.customer_360.gold import customer_360
from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
from mssql_lakehouse.defs.customer_360.silver import customers_history_and_customers
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_tests.customer_360.change_streams import (
    CURRENT_COLUMNS,
    HISTORY_COLUMNS,
    at_least_once,
    debezium_lines,
    generate,
    ms,
    oracle,
    rows,
    with_extra_column,
    write_demo_cdc,
)

DAYS = [dt.date(2026, 2, 1) + dt.timedelta(days=i) for i in range(4)]
SLICE = [customer_changes, customers_history_and_customers]


def table(spark, home, key: dg.AssetKey):
    return spark.read.format("delta").load(str(home / "tables" / key.path[0] / key.path[1]))


def land(home, lines: list[str], files: int, rng: random.Random) -> None:
    """Spread the lines over files whose names say nothing about commit order."""
    folder = home / "landing" / "debezium" / "customers"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        name = f"{rng.randrange(16**8):08x}.json"
        (folder / name).write_text("\n".join(lines[i::files]) + "\n", encoding="utf-8")


def materialize_days(resources, days, **kwargs) -> list[dg.ExecuteInProcessResult]:
    results = []
    for day in days:
        result = dg.materialize(SLICE, resources=resources, partition_key=day.isoformat(), **kwargs)
        assert result.success
        results.append(result)
    return results


def checks_of(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def assert_silver_equals_oracle(spark, home, stream):
    expected_history, expected_current = oracle(stream)
    assert rows(table(spark, home, HISTORY), HISTORY_COLUMNS) == expected_history
    assert rows(table(spark, home, CUSTOMERS), CURRENT_COLUMNS) == expected_current


ORDER = [DAYS[2], DAYS[0], DAYS[2], DAYS[1]]  # late days, then a replay, then the gap filled


@pytest.mark.parametrize("feed", ["debezium", "sqlserver"])
def test_days_in_any_order_with_replays_give_the_oracles_tables(spark, lakehouse_home, local_resources, feed):
    """Both feeds, same logical changes: the silver tables equal the commit-order oracle's."""
    stream = generate(21, DAYS[:3], per_day=7)
    if feed == "debezium":
        rng = random.Random(21)
        land(lakehouse_home, at_least_once(debezium_lines(stream), rng), files=4, rng=rng)
    else:
        write_demo_cdc(lakehouse_home / "demo_erp" / "erp.duckdb", stream, DAYS[:3])
    resources = {
        **local_resources,
        "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), feed=feed),
    }

    results = materialize_days(resources, ORDER)

    assert_silver_equals_oracle(spark, lakehouse_home, stream)
    bronze = table(spark, lakehouse_home, CHANGES)
    assert bronze.count() == bronze.select("change_position", "CustomerID").distinct().count()
    assert {r[0] for r in bronze.select("_feed").distinct().collect()} == {feed}
    for result in results:
        assert all(checks_of(result).values()), checks_of(result)
    if feed == "sqlserver":
        metadata = results[-1].asset_materializations_for_node("customer_changes")[0].metadata
        assert metadata["extraction_mode"].value == "cdc"
    else:
        metadata = results[0].asset_materializations_for_node("customer_changes")[0].metadata
        assert metadata["duplicates_dropped"].value > 0 and metadata["tombstones_ignored"].value == 3


def without_fields(lines: list[str], *fields: str) -> list[str]:
    """Events as a source without ``fields`` sends them (schemaless JSON)."""
    out = []
    for line in lines:
        event = json.loads(line)
        for image in ("before", "after"):
            if event[image] is not None:
                for name in fields:
                    event[image].pop(name, None)
        out.append(json.dumps(event))
    return out


def test_source_columns_added_and_removed_land_with_a_warning(spark, lakehouse_home, local_resources):
    """Day 2 adds LoyaltyTier; day 3 drops it again and drops City: columns stay, with nulls."""
    day1 = generate(24, DAYS[:1])
    day2 = [dt_replace_keys(t, 10_000) for t in generate(25, DAYS[1:2])]  # keys that do not collide
    day2 = with_extra_column(day2, "LoyaltyTier", lambda row: f"tier-{row['CustomerID'] % 3}")
    day3 = [dt_replace_keys(t, 20_000) for t in generate(26, DAYS[2:3])]
    rng = random.Random(24)
    land(lakehouse_home, debezium_lines(day1, with_schema=False), files=1, rng=rng)
    land(
        lakehouse_home,
        debezium_lines(day2, with_schema=False, extra_types={"LoyaltyTier": "nvarchar(20)"}),
        files=1,
        rng=rng,
    )
    land(lakehouse_home, without_fields(debezium_lines(day3, with_schema=False), "City"), files=1, rng=rng)
    resources = {
        **local_resources,
        "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), feed="debezium"),
    }

    first, second, third = materialize_days(resources, DAYS[:3])

    def drift(result):
        return next(e for e in result.get_asset_check_evaluations() if e.check_name == "schema_drift")

    assert drift(first).passed is True
    assert drift(second).passed is False and drift(second).severity == dg.AssetCheckSeverity.WARN
    assert drift(second).metadata["added_fields"].value == "LoyaltyTier"
    assert drift(third).passed is False and drift(third).metadata["missing_fields"].value == "City"
    assert "LoyaltyTier" in table(spark, lakehouse_home, CHANGES).columns
    customers = {r["customer_id"]: r for r in table(spark, lakehouse_home, CUSTOMERS).collect()}
    second_day = {k: r for k, r in customers.items() if 10_000 <= k < 20_000}
    third_day = {k: r for k, r in customers.items() if k >= 20_000}
    assert second_day and all(r["loyalty_tier"] == f"tier-{k % 3}" for k, r in second_day.items())
    assert all(r["loyalty_tier"] is None for k, r in customers.items() if k not in second_day)
    assert third_day and all(r["city"] is None for r in third_day.values())
    assert any(r["city"] is not None for k, r in customers.items() if k < 20_000)


def dt_replace_keys(transaction, offset: int):
    from dataclasses import replace

    def shift(row):
        return None if row is None else {**row, "CustomerID": row["CustomerID"] + offset}

    return replace(
        transaction,
        changes=tuple(
            replace(c, key=c.key + offset, before=shift(c.before), after=shift(c.after)) for c in transaction.changes
        ),
    )


def test_undecodable_events_are_quarantined_not_applied(spark, lakehouse_home, local_resources):
    stream = generate(26, DAYS[:1], per_day=3)
    lines = debezium_lines(stream, with_schema=False)
    bad = lines[0].replace('"CreditLimit":', '"CreditLimit":"not-base64!!",  "x":', 1)
    if bad == lines[0]:
        pytest.skip("first event has no CreditLimit")
    land(lakehouse_home, [bad, *lines[1:], "this is not json"], files=1, rng=random.Random(26))
    resources = {
        **local_resources,
        "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), feed="debezium"),
    }

    (result,) = materialize_days(resources, DAYS[:1])

    quarantine = table(spark, lakehouse_home, dg.AssetKey(["bronze", "customer_changes_quarantine"]))
    reasons = [r["reason"] for r in quarantine.collect()]
    assert len(reasons) == 1 and reasons[0].startswith("value does not decode: after.CreditLimit")
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "no_quarantined_events")
    assert check.passed is False and check.metadata["unreadable_lines"].value == 1


def test_gold_and_the_cdc_lag_check(spark, lakehouse_home, local_resources):
    stream = generate(27, DAYS[:1], per_day=4)
    land(lakehouse_home, debezium_lines(stream), files=1, rng=random.Random(27))
    resources = {
        **local_resources,
        "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), feed="debezium"),
    }
    materialize_days(resources, DAYS[:1])

    lag = dg.materialize([customer_changes, cdc_lag], resources=resources, selection=dg.AssetSelection.checks(cdc_lag))
    (evaluation,) = lag.get_asset_check_evaluations()
    # The generated changes are in February 2026, long before "now": the 48 h bound is exceeded.
    assert evaluation.passed is False and evaluation.severity == dg.AssetCheckSeverity.WARN
    newest = max(t.commit_time for t in stream)
    assert evaluation.metadata["newest_commit_time"].value == ms(newest).isoformat()

    assert dg.materialize(
        [*SLICE, customer_360], resources=resources, selection=[customer_360], partition_key=DAYS[0].isoformat()
    ).success
    gold = table(spark, lakehouse_home, dg.AssetKey(["gold", "customer_360"]))
    live = table(spark, lakehouse_home, CUSTOMERS)
    assert gold.count() == live.count() > 0
    assert gold.where("order_count IS NOT NULL OR net_revenue IS NOT NULL").count() == 0

    some_customer = live.select("customer_id").orderBy("customer_id").first()[0]
    tables = lakehouse_home / "tables" / "silver"
    spark.createDataFrame(
        [
            (1, some_customer, dt.date(2026, 1, 5), 5),
            (2, some_customer, dt.date(2026, 1, 9), 5),
            (3, some_customer, dt.date(2026, 1, 20), 6),
        ],
        "sales_order_id int, customer_id int, order_date date, status int",
    ).write.format("delta").save(str(tables / "sales_orders"))
    spark.createDataFrame(
        [(1, Decimal("10.5000")), (1, Decimal("2.2500")), (2, Decimal("100.0000")), (3, Decimal("999.0000"))],
        "sales_order_id int, line_net_amount decimal(19,4)",
    ).write.format("delta").save(str(tables / "sales_order_lines"))

    assert dg.materialize(
        [*SLICE, customer_360], resources=resources, selection=[customer_360], partition_key=DAYS[0].isoformat()
    ).success
    gold = table(spark, lakehouse_home, dg.AssetKey(["gold", "customer_360"]))
    facts = (
        gold.where(f"customer_id = {some_customer}")
        .select("order_count", "net_revenue", "first_order_date", "last_order_date")
        .first()
    )
    assert tuple(facts) == (2, Decimal("112.7500"), dt.date(2026, 1, 5), dt.date(2026, 1, 9))
    assert gold.where(f"customer_id != {some_customer} AND order_count != 0").count() == 0
