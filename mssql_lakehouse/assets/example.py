"""A small partitioned asset that exercises the Delta IO manager end to end.

It stands in for the use-case slices until they land, so that the main command
materializes something real on a fresh machine.
"""

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mssql_lakehouse.partitions import daily_partitions


@dg.asset(
    key=["bronze", "example_events"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={"partition_expr": "event_date"},
    kinds={"pyspark", "delta"},
    group_name="example",
    required_resource_keys={"spark", "step_launcher"},
)
def example_events(context: dg.AssetExecutionContext) -> DataFrame:
    """Ten events per day of the partition window, keyed by date and sequence number."""
    window = context.partition_time_window
    session = context.resources.spark.get_session()
    days = (window.end - window.start).days
    return (
        session.range(days * 10)
        .select(
            F.date_add(F.lit(window.start.date()), (F.col("id") / 10).cast("int")).alias("event_date"),
            (F.col("id") % 10).cast("int").alias("sequence"),
        )
        .withColumn("amount", (F.col("sequence") * F.lit(1.25)).cast("decimal(19,4)"))
    )
