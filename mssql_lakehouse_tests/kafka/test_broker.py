"""The Kafka broker the streaming tests run against: it starts, and serves topic metadata to Kafka's own tools."""

from __future__ import annotations

from mssql_lakehouse_demo.kafka_broker import KafkaBroker


def test_a_created_topic_is_served_with_its_partitions(kafka_broker: KafkaBroker) -> None:
    kafka_broker.create_topic("erp.orders", partitions=3)

    # A second tool run, in a new JVM, reads the topic back from the broker's metadata.
    assert kafka_broker.topics() == {"erp.orders": 3}
    assert kafka_broker.bootstrap_servers.startswith("127.0.0.1:")


def test_a_cluster_id_that_begins_with_a_dash_is_formatted() -> None:
    # One random cluster id in 64 begins with "-" (base64url); the storage tool must not take it for an option.
    with KafkaBroker(cluster_id="-" + "A" * 21) as broker:
        broker.create_topic("erp.customers", partitions=1)
        assert broker.topics() == {"erp.customers": 1}
