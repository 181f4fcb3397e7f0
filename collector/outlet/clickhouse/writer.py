"""Columnar inserts into the raw (Null-engine) table, retried until ClickHouse accepts them.

Hot path: columns go to clickhouse-driver as NumPy arrays (use_numpy), so numeric
columns are written without a Python loop; repeated strings arrive as object
arrays whose items are shared, not copied.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from collector.config.model import parse_hostport
from collector.config.shared import ClickHouseConfig
from collector.metrics.stats import MetricDef, MetricSet, Stats
from collector.schema.columns import COLUMNS

log = logging.getLogger(__name__)

RAW_TABLE = "flows_raw"
P = "flowweir_outlet_clickhouse_"
WRITER_METRICS = MetricSet(
    MetricDef(P + "inserts", "Batches ClickHouse accepted.", "counter"),
    MetricDef(P + "inserted_flows", "Flows ClickHouse accepted.", "counter"),
    MetricDef(P + "insert_errors", "Failed insert attempts (retried).", "counter", ("kind",)),
    MetricDef(P + "last_batch_flows", "Flows in the last batch inserted.", "gauge"),
    MetricDef(P + "last_insert_seconds", "Duration of the last successful insert.", "gauge"),
    MetricDef(P + "insert_seconds", "Total time spent in successful inserts.", "counter"),
    MetricDef(P + "up", "1 when the last insert attempt succeeded.", "gauge"),
)


class ClickHouseWriter:
    def __init__(self, config: ClickHouseConfig, stats: Stats, backoff_max: float = 30.0) -> None:
        self.config = config
        self.stats = stats
        self.backoff_max = backoff_max
        self.columns = [c.name for c in COLUMNS]
        self.query = f"INSERT INTO {config.database}.{RAW_TABLE} ({', '.join(self.columns)}) VALUES"
        self._client: Any = None
        self._server = 0
        self._down_logged = False

    def _connect(self) -> Any:
        from clickhouse_driver import Client

        host, port = parse_hostport(
            self.config.servers[self._server % len(self.config.servers)], 9000
        )
        return Client(
            host=host,
            port=port,
            user=self.config.username,
            password=self.config.password,
            database=self.config.database,
            connect_timeout=self.config.timeout,
            send_receive_timeout=max(self.config.timeout, 30),
            settings={"use_numpy": True},
            compression=False,
        )

    def insert(
        self,
        columns: dict[str, np.ndarray],
        should_stop: Callable[[], bool],
        idle: Callable[[], None],
    ) -> bool:
        """Insert one batch; retries with exponential backoff until it succeeds or `should_stop()`.

        `idle()` is called while waiting (the consumer keeps its group membership alive).
        Returns False only when told to stop before the batch was accepted.
        """
        data = [columns[name] for name in self.columns]
        n = len(data[0]) if data else 0
        delay = 0.5
        while True:
            started = time.monotonic()
            try:
                if self._client is None:
                    self._client = self._connect()
                self._client.execute(self.query, data, columnar=True)
            except Exception as exc:  # network, server and protocol errors alike: retry
                kind = _error_kind(exc)
                self.stats.inc(P + "insert_errors", (kind,))
                self.stats.set(P + "up", (), 0)
                if not self._down_logged:
                    self._down_logged = True
                    log.error(
                        "ClickHouse %s refused the batch (%s: %s); retrying with backoff, nothing is committed "
                        "and consumption pauses until it is back",
                        self.config.servers[self._server % len(self.config.servers)],
                        kind,
                        str(exc).splitlines()[0][:300],
                    )
                self._disconnect()
                self._server += 1
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline:
                    if should_stop():
                        return False
                    idle()
                delay = min(delay * 2, self.backoff_max)
                continue
            elapsed = time.monotonic() - started
            if self._down_logged:
                log.info("ClickHouse is back; batch of %d flows inserted", n)
                self._down_logged = False
            self.stats.inc(P + "inserts")
            self.stats.inc(P + "inserted_flows", (), n)
            self.stats.inc(P + "insert_seconds", (), elapsed)
            self.stats.set(P + "last_batch_flows", (), n)
            self.stats.set(P + "last_insert_seconds", (), elapsed)
            self.stats.set(P + "up", (), 1)
            return True

    def _disconnect(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.disconnect()
            self._client = None

    def close(self) -> None:
        self._disconnect()


def _error_kind(exc: Exception) -> str:
    name = type(exc).__name__
    if (
        isinstance(exc, (OSError, EOFError))
        or "Network" in name
        or "Socket" in name
        or "Timeout" in name
    ):
        return "network"
    if "ServerException" in name:
        return "server"
    return "other"
