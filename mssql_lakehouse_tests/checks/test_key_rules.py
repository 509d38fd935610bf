"""The key rules every slice's checks share, on frames with and without the defects they look for."""

import dagster as dg

from mssql_lakehouse.lib.check_rules import not_null, unique_key

KEY = dg.AssetKey(["silver", "lines"])


def test_unique_key_counts_every_duplicated_key_and_samples_some(spark):
    rows = [(order, line) for order in range(8) for line in range(3)]
    rows += [(order, 0) for order in range(7)]  # seven keys twice
    rows += [(0, 1), (0, 1)]  # one key three times
    df = spark.createDataFrame(rows, "order_id int, line_id int")

    result = unique_key(KEY, df, ["order_id", "line_id"])

    assert not result.passed
    assert result.metadata["duplicate_keys"].value == 8
    assert len(result.metadata["sample"].value) == 5


def test_unique_key_and_not_null_pass_on_clean_keys(spark):
    df = spark.createDataFrame([(1, 1), (1, 2), (2, 1)], "order_id int, line_id int")

    unique = unique_key(KEY, df, ["order_id", "line_id"])
    present = not_null(KEY, df, ["order_id", "line_id"])

    assert unique.passed and unique.metadata["duplicate_keys"].value == 0
    assert present.passed


def test_not_null_counts_the_nulls_of_each_column(spark):
    df = spark.createDataFrame([(1, None), (None, None), (3, 1)], "order_id int, line_id int")

    result = not_null(KEY, df, ["order_id", "line_id"])

    assert not result.passed
    assert (result.metadata["nulls_order_id"].value, result.metadata["nulls_line_id"].value) == (1, 2)
