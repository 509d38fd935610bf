"""Inventory positions and the stock-out alerts they add to the sales slice, on small Spark frames."""

import datetime as dt

import dagster as dg
import pytest
from pyspark.sql import functions as F

from mssql_lakehouse.lib.transforms.inventory import conform, current_inventory, file_problems, inventory_position
from mssql_lakehouse.lib.transforms.sku_alerts import AlertThresholds, sku_alerts

D = dt.date(2026, 11, 8)
SNAP = dt.datetime(2026, 11, 8, 23, 59, 59)


@pytest.fixture
def bronze(spark):
    """Day D in amer: product 1 in two locations (one listed twice, by two files), product 2 empty."""
    rows = [
        (1, 10, "A", 1, 30, "g1", dt.datetime(2026, 11, 8, 9), SNAP, "a.parquet", D, "amer"),
        (1, 10, "A", 1, 30, "g1", dt.datetime(2026, 11, 8, 9), SNAP, "a.csv", D, "amer"),
        (1, 11, "B", 2, 12, "g2", dt.datetime(2026, 11, 1), SNAP, "a.parquet", D, "amer"),
        (2, 10, "C", 3, 0, "g3", dt.datetime(2026, 11, 8, 10), SNAP, "a.parquet", D, "amer"),
    ]
    schema = (
        "ProductID int, LocationID smallint, Shelf string, Bin smallint, Quantity smallint, rowguid string,"
        " ModifiedDate timestamp_ntz, SnapshotTime timestamp_ntz, _file_name string, _landing_date date, _region string"
    )
    return spark.createDataFrame(rows, schema)


def test_position_sums_a_days_snapshot_per_sku_with_days_of_cover_against_the_trailing_week(spark, bronze):
    skus = spark.createDataFrame([(1, "BK-1"), (2, "BK-2")], "product_id int, sku string")
    # BK-1 sold 14 a day over the week (2 units of it outside the week); BK-2 did not sell.
    sales = spark.createDataFrame(
        [(D - dt.timedelta(days=i), "BK-1", 14) for i in range(7)] + [(D - dt.timedelta(days=7), "BK-1", 700)],
        "order_date date, sku string, quantity bigint",
    )
    got = {r.sku: r for r in inventory_position(bronze, skus, sales, min_days_of_cover=3).collect()}
    assert got["BK-1"].on_hand == 42 and got["BK-1"].locations == 2
    assert got["BK-1"].avg_daily_sales == 14.0 and got["BK-1"].days_of_cover == 3.0
    assert got["BK-1"].stock_out_risk is False
    assert got["BK-2"].on_hand == 0 and got["BK-2"].days_of_cover is None and got["BK-2"].stock_out_risk is True

    tighter = {r.sku: r.stock_out_risk for r in inventory_position(bronze, skus, sales, min_days_of_cover=4).collect()}
    assert tighter == {"BK-1": True, "BK-2": True}


def test_without_a_product_catalog_or_sales_a_position_names_the_product(bronze):
    got = {
        r.sku: (r.on_hand, r.days_of_cover, r.stock_out_risk)
        for r in inventory_position(bronze, None, None, 3).collect()
    }
    assert got == {"product-1": (42, None, False), "product-2": (0, None, True)}


def test_sku_alerts_add_stock_out_risks_from_inventory_positions(spark):
    alignment = spark.createDataFrame(
        [
            (D, "BK-1", 10, 10, 0, 0.0, 0, 70, 70),
            (D, "BK-2", 9, 10, -1, -0.1, -1, 63, 70),
            (D, "BK-3", 10, 10, 0, 0.0, 0, 70, 70),
        ],
        "date date, sku string, actual_qty bigint, forecast_qty bigint, deviation_qty bigint, deviation_pct double,"
        " rolling_7d_deviation_qty bigint, rolling_7d_actual_qty bigint, rolling_7d_forecast_qty bigint",
    )
    positions = spark.createDataFrame(
        [
            (D, "amer", "BK-1", 0, None, True),
            (D, "emea", "BK-1", 5, 0.5, True),
            (D, "amer", "BK-2", 8, 0.8, True),
            (D, "amer", "BK-3", 500, 50.0, False),
        ],
        "position_date date, region string, sku string, on_hand bigint, days_of_cover double, stock_out_risk boolean",
    )
    without = sku_alerts(alignment, AlertThresholds())
    assert without.where("alert_type = 'stock_out_risk'").isEmpty()

    alerts = {
        r.sku: r
        for r in sku_alerts(alignment, AlertThresholds(), positions).where("alert_type = 'stock_out_risk'").collect()
    }
    assert set(alerts) == {"BK-1", "BK-2"}
    assert (alerts["BK-1"].severity, alerts["BK-1"].on_hand, alerts["BK-1"].days_of_cover) == ("high", 5, 0.5)
    assert alerts["BK-2"].severity == "medium"
    assert (
        alerts["BK-1"].message
        == "stock_out_risk on BK-1: 5 on hand (amer, emea), 0.5 days of cover; sold 10 vs forecast 10"
    )
    assert all(a.actual_qty is not None and a.forecast_qty is not None for a in alerts.values())


def test_csv_text_conforms_to_the_export_contract_and_bad_values_are_named(spark):
    raw = spark.createDataFrame(
        [("1", "10", "A", "3", "25", "g", "2026-11-08 09:00:00.123456", "2026-11-08 23:59:59.999999", "x")],
        "ProductID string, LocationID string, Shelf string, Bin string, Quantity string, rowguid string,"
        " ModifiedDate string, SnapshotTime string, Aisle string",
    )
    assert file_problems(raw) == []
    row = conform(raw).collect()[0]
    assert (row.ProductID, row.Quantity, row.Aisle) == (1, 25, "x")
    assert row.ModifiedDate == dt.datetime(2026, 11, 8, 9, 0, 0, 123456)

    bad = raw.drop("rowguid").withColumn("Quantity", F.lit("many"))
    assert file_problems(bad) == ["missing column(s) rowguid", "1 value(s) of Quantity are not smallint"]


def test_the_sales_alerts_asset_reads_the_days_inventory_positions_when_the_lakehouse_has_them(
    spark, lakehouse_home, local_resources
):
    from mssql_lakehouse.defs.sales.gold import sku_alerts as sku_alerts_asset

    alignment = spark.createDataFrame(
        [(D, "BK-1", 10, 10, 0, 0.0, 0, 70, 70)],
        "date date, sku string, actual_qty bigint, forecast_qty bigint, deviation_qty bigint, deviation_pct double,"
        " rolling_7d_deviation_qty bigint, rolling_7d_actual_qty bigint, rolling_7d_forecast_qty bigint",
    )
    positions = spark.createDataFrame(
        [(D, "amer", "BK-1", 0, None, True), (D - dt.timedelta(days=1), "amer", "BK-1", 0, None, True)],
        "position_date date, region string, sku string, on_hand bigint, days_of_cover double, stock_out_risk boolean",
    )

    def alerts() -> list:
        with dg.build_asset_context(partition_key=D.isoformat(), resources=local_resources) as context:
            output = next(iter(sku_alerts_asset(context, alignment)))
            return output.value.collect()

    assert alerts() == []  # no inventory in this lakehouse yet
    positions.write.format("delta").save(str(lakehouse_home / "tables" / "gold" / "inventory_position"))
    (alert,) = alerts()
    assert (alert.alert_date, alert.alert_type, alert.severity) == (D, "stock_out_risk", "high")


def test_a_location_a_complete_snapshot_no_longer_lists_becomes_a_tombstone_an_older_snapshot_cannot_undo(
    spark, bronze
):
    day2 = (
        bronze.where("NOT (ProductID = 2)")
        .withColumn("_landing_date", F.lit(D + dt.timedelta(days=1)))
        .withColumn("SnapshotTime", F.lit(SNAP + dt.timedelta(days=1)))
    )
    known = spark.createDataFrame(
        [("amer", 1, 10), ("amer", 1, 11), ("amer", 2, 10)], "region string, product_id int, location_id int"
    )
    nothing_rejected = spark.createDataFrame([], "region string, snapshot_date date")

    # Day 1 (which still lists product 2) replayed together with day 2: day 2's tombstone is newer.
    rows = {
        (r.product_id, r.location_id): r
        for r in current_inventory(bronze.unionByName(day2), known, nothing_rejected).collect()
    }
    assert (rows[(2, 10)].is_removed, rows[(2, 10)].quantity, rows[(2, 10)].snapshot_date) == (
        True,
        0,
        D + dt.timedelta(days=1),
    )
    assert not rows[(1, 10)].is_removed and rows[(1, 10)].quantity == 30

    # A snapshot that lost a file to rejection removes nothing.
    day2_incomplete = spark.createDataFrame([("amer", D + dt.timedelta(days=1))], "region string, snapshot_date date")
    kept = {
        (r.product_id, r.location_id): r.is_removed for r in current_inventory(day2, known, day2_incomplete).collect()
    }
    assert kept == {(1, 10): False, (1, 11): False}


def test_the_position_asset_takes_skus_and_demand_from_the_sales_slice_when_the_lakehouse_has_them(
    spark, bronze, lakehouse_home, local_resources
):
    from mssql_lakehouse.defs.inventory.gold import inventory_position as position_asset

    tables = lakehouse_home / "tables"
    spark.createDataFrame(
        [
            (1, "BK-1", D - dt.timedelta(days=1)),
            (2, "BK-2", D - dt.timedelta(days=1)),
            (1, "OLD-1", D - dt.timedelta(days=9)),
        ],
        "ProductID int, ProductNumber string, snapshot_date date",
    ).write.format("delta").save(str(tables / "bronze" / "products"))
    spark.createDataFrame(
        [(D - dt.timedelta(days=i), "BK-1", 28) for i in range(7)], "order_date date, sku string, quantity bigint"
    ).write.format("delta").save(str(tables / "gold" / "daily_sku_sales"))

    with dg.build_asset_context(partition_key=f"{D}|amer", resources=local_resources) as context:
        results = list(position_asset(context, bronze))
    positions = {r.sku: r for r in results[0].value.collect()}
    assert (positions["BK-1"].avg_daily_sales, positions["BK-1"].days_of_cover, positions["BK-1"].stock_out_risk) == (
        28.0,
        1.5,
        True,
    )
    assert positions["BK-2"].stock_out_risk is True
    assert all(r.passed for r in results[1:]), [(r.check_name, r.metadata) for r in results[1:] if not r.passed]
