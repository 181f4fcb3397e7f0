"""Session fixtures starting real services on free ports; each stops its service at the end."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest

from collector.devservices.clickhouse import ClickHouseServer
from collector.devservices.kafka import KafkaBroker
from collector.devservices.redis import RedisServer
from collector.schema.executor import ChdbExecutor


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    with KafkaBroker() as broker:
        yield broker


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def clickhouse_server() -> Iterator[ClickHouseServer]:
    with ClickHouseServer() as server:
        yield server


@pytest.fixture(scope="session")
def chdb_executor() -> Iterator[ChdbExecutor]:
    """A modern ClickHouse in process (cannot serve the native protocol, can run SQL).

    chdb keeps one engine per process: share one session, one database per test.
    """
    with tempfile.TemporaryDirectory(prefix="flowweir-chdb-") as path:
        executor = ChdbExecutor(path)
        yield executor
        executor.close()
