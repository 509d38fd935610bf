"""The Kafka feed: a broker's start, and a day of Customer 360 events consumed from a topic into bronze.

Starts the single-node KRaft broker the tests use (``mssql_lakehouse_demo/kafka_broker.py``), seeds
the demo ERP, publishes its ``dbo.Customer`` change events as the Debezium connector would (keyed,
over 3 partitions, with tombstones), then materializes ``bronze/customer_changes`` for the last day
with ``LAKEHOUSE_DEBEZIUM_SOURCE=kafka``: the first run consumes every event published
(``availableNow``) into the raw table and lands the day; a second run of the same day finds nothing
new in the topic. Spark is started before the runs, so the figures are the runs' own.

    .venv/bin/python benchmarks/kafka_feed.py                  # 7 days at scale 1
    .venv/bin/python benchmarks/kafka_feed.py --days 2 --scale 0.05

Local Spark on this machine's cores; figures are wall-clock seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

TOPIC = "erp.erp.dbo.Customer"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kafka-bench-") as tmp:
        home = Path(tmp)
        os.environ.update(
            LAKEHOUSE_HOME=str(home),
            LAKEHOUSE_DEMO_ERP_DIR=str(home / "demo_erp"),
            LAKEHOUSE_CDC_FEED="debezium",
            LAKEHOUSE_DEBEZIUM_SOURCE="kafka",
            LAKEHOUSE_KAFKA_TOPIC=TOPIC,
        )
        import dagster as dg

        from mssql_lakehouse.defs.customer_360.bronze import customer_changes
        from mssql_lakehouse.defs.customer_360.settings import CustomerCdcSettings
        from mssql_lakehouse.lib.resources.deployment import resources_for
        from mssql_lakehouse.lib.resources.spark import local_spark_session
        from mssql_lakehouse.settings import LakehouseSettings
        from mssql_lakehouse_demo import seed
        from mssql_lakehouse_demo.debezium_export import events_by_day
        from mssql_lakehouse_demo.debezium_publish import publish
        from mssql_lakehouse_demo.kafka_broker import KafkaBroker

        first = dt.date(2026, 3, 2)
        seed(home / "demo_erp", first, args.days, args.scale, regions=["amer"])
        day = max(events_by_day(home / "demo_erp"))
        spark = local_spark_session(paths=LakehouseSettings.from_env().paths)

        with KafkaBroker() as broker:
            print(f"broker started in {broker.started_in_seconds:.1f} s (storage format included)")
            broker.create_topic(TOPIC, 3)
            os.environ["LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
            began = time.perf_counter()
            sent = publish(spark, home / "demo_erp", broker.bootstrap_servers, TOPIC)
            print(f"published {sent} records of {args.days} days in {time.perf_counter() - began:.1f} s")

            settings = LakehouseSettings.from_env()
            resources = {**resources_for(settings), "customer_cdc": CustomerCdcSettings.from_settings(settings)}
            for label in ("consumes the topic and lands the day", "finds nothing new"):
                began = time.perf_counter()
                result = dg.materialize([customer_changes], resources=resources, partition_key=day.isoformat())
                seconds = time.perf_counter() - began
                assert result.success
                [event] = [
                    e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "customer_changes"
                ]
                landed = event.materialization.metadata["events_delivered"].value
                print(f"bronze/customer_changes {day}, {landed} events: {seconds:.1f} s ({label})")


if __name__ == "__main__":
    main()
