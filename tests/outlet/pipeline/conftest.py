"""A whole pipeline per test: schema and topic by the orchestrator, an inlet, outlets."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.devservices.base import free_port, wait_for
from collector.devservices.daemon import Daemon, orchestrate_once


class Pipeline:
    def __init__(self, kafka_broker, clickhouse_server, redis_server, tmp: Path) -> None:
        self.ch = clickhouse_server
        self.database = f"fw_{uuid.uuid4().hex[:8]}"
        self.port = free_port(2)
        self.sflow_port = free_port(2)
        self.base: dict[str, Any] = {
            "kafka": {
                "brokers": [kafka_broker.bootstrap],
                "topic": f"t{uuid.uuid4().hex[:8]}",
                "partitions": 2,
            },
            "clickhouse": {"servers": [clickhouse_server.address], "database": self.database},
            "redis": {"url": redis_server.url},
            "orchestrator": {
                "dictionaries-path": str(clickhouse_server.dir / "dictionaries"),
                "startup-timeout": "30s",
            },
        }
        self.tmp = tmp
        self.daemons: list[Daemon] = []
        self.topic = f"{self.base['kafka']['topic']}-v1"
        # One consumer group per pipeline, so that tests do not share a group's state on the
        # broker (seen on Tansu: a group just left by an earlier test's outlets, on another
        # topic, kept the next test's outlet from joining for over a minute).
        self.group = f"g{uuid.uuid4().hex[:8]}"

    def orchestrate(self) -> None:
        result = orchestrate_once(self.base, self.tmp)
        assert result.returncode == 0, result.stderr

    def inlet(self, workers: int = 1, host: str = "127.0.0.1") -> Daemon:
        config = {
            **self.base,
            "inlet": {
                "inputs": [
                    {"decoder": "netflow", "listen": f"{host}:{self.port}", "workers": workers},
                    {"decoder": "sflow", "listen": f"{host}:{self.sflow_port}", "workers": 1},
                ]
            },
        }
        d = Daemon("inlet", config).start()
        self.daemons.append(d)
        return d

    def outlet(
        self, start: bool = True, clickhouse: dict[str, Any] | None = None, **outlet: Any
    ) -> Daemon:
        """An outlet daemon; `clickhouse` overrides keys of the clickhouse section."""
        settings = {
            "metadata": "none",
            "maximum-wait-time": 1,
            "session-timeout": 3,
            "default-sampling-rate": {"0.0.0.0/0": 1, "::/0": 1},
            "consumer-group": self.group,
            **outlet,
        }
        base = {**self.base, "clickhouse": {**self.base["clickhouse"], **(clickhouse or {})}}
        d = Daemon("outlet", {**base, "outlet": settings})
        self.daemons.append(d)
        return d.start() if start else d

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.ch.client(self.database).execute(sql)

    def wait_rows(self, table: str, expected: int, timeout: float = 60) -> int:
        def check() -> bool:
            return self.count(table) >= expected

        with contextlib.suppress(TimeoutError):
            wait_for(check, timeout, f"{expected} rows in {table}", interval=0.5)
        return self.count(table)

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT count() FROM {table}")[0][0])

    def stop(self) -> None:
        for d in self.daemons:
            d.stop()


@pytest.fixture
def pipeline(kafka_broker, clickhouse_server, redis_server, tmp_path) -> Iterator[Pipeline]:
    p = Pipeline(kafka_broker, clickhouse_server, redis_server, tmp_path)
    p.orchestrate()
    yield p
    p.stop()
