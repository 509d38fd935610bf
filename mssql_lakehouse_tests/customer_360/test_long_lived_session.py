"""Runs one after another in one Spark session, as in-process runs and the job runs of a Databricks
all-purpose cluster share one: a run must read what its sources hold now, not what an earlier run
of the session cached."""

import dagster as dg

from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
from mssql_lakehouse.settings import LakehouseSettings
from mssql_lakehouse_tests.customer_360.change_streams import debezium_lines, generate
from mssql_lakehouse_tests.customer_360.test_assets import DAYS, SLICE, assert_silver_equals_oracle


def test_a_day_run_again_after_its_landed_file_was_rewritten_applies_the_new_events(
    spark, lakehouse_home, local_resources
):
    stream = generate(31, DAYS[:1], per_day=8)
    # The exporter rewrites a day's file under the same name when the day gets more changes.
    landed = lakehouse_home / "landing" / "debezium" / "customers" / f"dbo_Customer-{DAYS[0].isoformat()}.json"
    landed.parent.mkdir(parents=True)
    resources = {
        **local_resources,
        "customer_cdc": CustomerCdcSettings.from_settings(LakehouseSettings.from_env(), feed="debezium"),
    }

    landed.write_text("\n".join(debezium_lines(stream[:3])) + "\n", encoding="utf-8")
    assert dg.materialize(SLICE, resources=resources, partition_key=DAYS[0].isoformat()).success
    assert_silver_equals_oracle(spark, lakehouse_home, stream[:3])

    landed.write_text("\n".join(debezium_lines(stream)) + "\n", encoding="utf-8")
    assert dg.materialize(SLICE, resources=resources, partition_key=DAYS[0].isoformat()).success
    assert_silver_equals_oracle(spark, lakehouse_home, stream)
