"""Regional inventory end to end: demo exports -> landing zone -> bronze -> silver -> gold, on real Spark and Delta.

One lakehouse ingests parquet exports of two regions x three days in one run, then the same
files again, then a replay of day 1; a second ingests the same snapshots as CSV, then a day
with bad files and a day whose export gained a column.
"""

import datetime as dt
import os

import pytest

from mssql_lakehouse.defs.inventory.sensors import inventory_file_arrival
from mssql_lakehouse_tests.inventory.conftest import FIRST_DAY, REGIONS, TABLES, erp_on_hand, key
from mssql_lakehouse_tests.sensors.daemon import Daemon

DAYS = [FIRST_DAY + dt.timedelta(days=i) for i in range(3)]
DAY4 = FIRST_DAY + dt.timedelta(days=3)
ALL_PARTITIONS = (key(DAYS[0], REGIONS[0]), key(DAYS[-1], REGIONS[-1]))


def _failed_checks(result) -> dict[tuple[str, str], str]:
    return {
        (e.asset_key.to_user_string(), e.check_name): e.severity.value
        for e in result.get_asset_check_evaluations()
        if not e.passed
    }


def _ingested(make_lakehouse, fmt: str):
    """A lakehouse whose regions exported three days as ``fmt``, all ingested in one run."""
    lh = make_lakehouse(f"inventory_{fmt}")
    lh.seed(days=3)
    for day in DAYS:
        for region in REGIONS:
            lh.export(day, region, fmt)
    lh.first_run = lh.run(*ALL_PARTITIONS)
    return lh


@pytest.fixture(scope="module")
def parquet_lakehouse(make_lakehouse):
    return _ingested(make_lakehouse, "parquet")


@pytest.fixture(scope="module")
def csv_lakehouse(make_lakehouse):
    return _ingested(make_lakehouse, "csv")


def test_two_regions_by_three_days_land_through_bronze_silver_and_gold(parquet_lakehouse):
    lh = parquet_lakehouse
    assert _failed_checks(lh.first_run) == {}

    bronze = lh.table("bronze", "inventory_snapshots")
    per_partition = {
        (r._landing_date, r._region): r["count"] for r in bronze.groupBy("_landing_date", "_region").count().collect()
    }
    expected = {(day, region): len(erp_on_hand(lh.demo_dir, region, day)) for day in DAYS for region in REGIONS}
    assert per_partition == expected
    first = bronze.first()
    assert first._file_name.startswith("ProductInventory_") and first._file_size > 0
    assert first._file_modified_at is not None and first._ingested_at is not None

    current = {k: v for region in REGIONS for k, v in erp_on_hand(lh.demo_dir, region, DAYS[-1]).items()}
    assert lh.on_hand() == current

    positions = lh.table("gold", "inventory_position").collect()
    got = {(p.position_date, p.region, p.product_id): p.on_hand for p in positions}
    want: dict = {}
    for day in DAYS:
        for region in REGIONS:
            for (_, product, _), qty in erp_on_hand(lh.demo_dir, region, day).items():
                want[(day, region, product)] = want.get((day, region, product), 0) + qty
    assert got == want
    # Without the sales slice there is no demand: cover is unknown and only an empty shelf is a risk.
    assert all(p.days_of_cover is None and p.stock_out_risk == (p.on_hand <= 0) for p in positions)


def test_ingesting_the_same_files_again_changes_no_table(parquet_lakehouse):
    lh = parquet_lakehouse
    before = {t: lh.contents(*t) for t in TABLES}
    lh.run(*ALL_PARTITIONS)
    assert {t: lh.contents(*t) for t in TABLES} == before


def test_replaying_day_one_after_day_three_does_not_regress_the_on_hand(parquet_lakehouse):
    lh = parquet_lakehouse
    before = {t: lh.contents(*t) for t in TABLES}
    day1, day3 = erp_on_hand(lh.demo_dir, "amer", DAYS[0]), erp_on_hand(lh.demo_dir, "amer", DAYS[-1])
    assert day1 != day3, "the demo changes inventory every day"

    lh.run(key(DAYS[0], "amer"))

    assert lh.on_hand("amer") == day3
    assert {t: lh.contents(*t) for t in TABLES} == before


def test_a_sensor_started_after_runs_landed_the_files_requests_only_a_folder_that_changes_since(parquet_lakehouse):
    """Files landed by runs the sensor did not request (from the UI, by `make demo`) are not run again
    when the sensor starts with a new cursor; a folder whose files change afterwards is."""
    lh = parquet_lakehouse
    daemon = Daemon.of(lh.defs, lh.instance, inventory_file_arrival)
    assert [r.partition_key for r in daemon.tick().requests] == []

    export = next(lh.landing(REGIONS[0], DAYS[-1]).iterdir())
    landed_at = export.stat().st_mtime_ns
    try:
        os.utime(export, ns=(landed_at, landed_at + 1_000_000_000))
        assert [r.partition_key for r in daemon.tick().requests] == [key(DAYS[-1], REGIONS[0])]
    finally:
        os.utime(export, ns=(landed_at, landed_at))


def test_csv_and_parquet_exports_of_the_same_snapshots_give_the_same_silver_and_gold(parquet_lakehouse, csv_lakehouse):
    assert {f.name.rsplit(".", 1)[1] for f in csv_lakehouse.landing("amer", DAYS[0]).iterdir()} == {"csv"}
    for table in [("silver", "inventory"), ("gold", "inventory_position")]:
        assert csv_lakehouse.contents(*table) == parquet_lakehouse.contents(*table), table


@pytest.fixture(scope="module")
def bad_files_run(csv_lakehouse):
    """Day 4 in amer: a good parquet export, a truncated copy of it, and a CSV export with a malformed line."""
    lh = csv_lakehouse
    lh.seed(days=1, start=DAY4)
    good = lh.export(DAY4, "amer", "parquet")
    truncated = good.with_name("ProductInventory_amer_retry.parquet")
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    malformed = lh.export(DAY4, "amer", "csv")
    with malformed.open("a") as f:
        f.write("17,10,A\n")
    return lh.run(key(DAY4, "amer")), good, truncated, malformed


def test_a_truncated_parquet_and_a_csv_with_a_malformed_line_are_rejected_while_the_rest_lands(
    bad_files_run, csv_lakehouse
):
    result, good, truncated, malformed = bad_files_run
    lh = csv_lakehouse
    rejected = {r.file_name: r.reason for r in lh.table("bronze", "inventory_rejected_files").collect()}
    assert set(rejected) == {truncated.name, malformed.name}
    assert rejected[truncated.name].startswith("unreadable parquet file")
    assert rejected[malformed.name].startswith("1 malformed line(s); first: '17,10,A'")

    landed = lh.table("bronze", "inventory_snapshots").where(f"_landing_date = DATE'{DAY4}' AND _region = 'amer'")
    assert {r._file_name for r in landed.select("_file_name").distinct().collect()} == {good.name}
    assert lh.on_hand("amer") == erp_on_hand(lh.demo_dir, "amer", DAY4)
    assert _failed_checks(result) == {("bronze/inventory_snapshots", "no_rejected_files"): "ERROR"}


def test_a_column_added_to_later_exports_arrives_with_a_warning(csv_lakehouse, bad_files_run):
    lh = csv_lakehouse
    spark = lh.spark
    export = lh.export(DAY4, "emea", "parquet")
    with_aisle = spark.read.parquet(str(export)).selectExpr("*", "concat('aisle-', LocationID) AS Aisle")
    rewritten = export.with_name(".rewrite")
    with_aisle.coalesce(1).write.parquet(str(rewritten))
    export.unlink()
    next(rewritten.glob("part-*.parquet")).rename(export)

    result = lh.run(key(DAY4, "emea"))

    assert _failed_checks(result) == {("bronze/inventory_snapshots", "schema_matches_contract"): "WARN"}
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "schema_matches_contract")
    assert check.metadata["new_columns"].value == "Aisle"
    bronze = lh.table("bronze", "inventory_snapshots")
    aisles = bronze.where(f"_landing_date = DATE'{DAY4}' AND _region = 'emea'").select("Aisle").distinct().collect()
    assert {r.Aisle for r in aisles} == {"aisle-20", "aisle-21", "aisle-22"}
    assert bronze.where("_region = 'amer'").where("Aisle IS NOT NULL").isEmpty()
    assert lh.on_hand("emea") == erp_on_hand(lh.demo_dir, "emea", DAY4)
