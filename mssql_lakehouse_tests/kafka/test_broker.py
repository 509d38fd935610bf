"""The Kafka broker the streaming tests run against: it starts, and serves topic metadata to Kafka's own tools."""

from __future__ import annotations

from mssql_lakehouse_demo.kafka_broker import KafkaBroker


def test_a_created_topic_is_served_with_its_partitions(kafka_broker: KafkaBroker) -> None:
    kafka_broker.create_topic("erp.orders", partitions=3)

    # A second tool run, in a new JVM, reads the topic back from the broker's metadata.
    assert kafka_broker.topics() == {"erp.orders": 3}
    assert kafka_broker.bootstrap_servers.startswith("127.0.0.1:")
