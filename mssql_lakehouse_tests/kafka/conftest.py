"""A real Kafka broker for the tests of this folder, started once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mssql_lakehouse_demo.kafka_broker import KafkaBroker


@pytest.fixture(scope="module")
def kafka_broker() -> Iterator[KafkaBroker]:
    with KafkaBroker() as broker:
        yield broker
