"""Columnar inserts into the raw (Null-engine) table, retried until ClickHouse accepts them.

clickhouse-driver talks the native protocol (handshake, settings, errors); the
block itself is encoded by `native.py` with NumPy, as the column types the server
announces for the INSERT, because the driver's own encoders loop over String and
Array values in Python (see native.py for the numbers).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from clickhouse_driver import Client, defines
from clickhouse_driver.block import BlockInfo, ColumnOrientedBlock
from clickhouse_driver.protocol import ClientPacketTypes
from clickhouse_driver.varint import write_varint
from clickhouse_driver.writer import write_binary_str

from collector.config.shared import ClickHouseConfig
from collector.config.types import parse_hostport
from collector.metrics.stats import MetricDef, MetricSet, Stats
from collector.outlet.clickhouse.native import EncodeError, encode_block
from collector.outlet.core.strings import ColumnData
from collector.schema.columns import COLUMNS

log = logging.getLogger(__name__)

RAW_TABLE = "flows_raw"
P = "flowweir_outlet_clickhouse_"
WRITER_METRICS = MetricSet(
    MetricDef(P + "inserts", "Batches ClickHouse accepted.", "counter"),
    MetricDef(P + "inserted_flows", "Flows ClickHouse accepted.", "counter"),
    MetricDef(
        P + "insert_errors",
        "Failed insert attempts, by kind: network, server, other (retried); "
        "authentication, schema, encoding (the writer stops).",
        "counter",
        ("kind",),
    ),
    MetricDef(P + "last_batch_flows", "Flows in the last batch inserted.", "gauge"),
    MetricDef(P + "last_insert_seconds", "Duration of the last successful insert.", "gauge"),
    MetricDef(P + "insert_seconds", "Total time spent in successful inserts.", "counter"),
    MetricDef(P + "up", "1 when the last insert attempt succeeded.", "gauge"),
    MetricDef(
        P + "writer_stopped",
        "1 when ClickHouse refused a batch for a reason retrying cannot fix (the kind); "
        "nothing more is inserted or committed until the outlet restarts.",
        "gauge",
        ("kind",),
    ),
)

# ClickHouse error codes that retrying cannot fix, by kind (a bounded metric label).
_AUTHENTICATION = {192, 193, 194, 195, 291, 164, 497, 516}  # unknown user, wrong password, ...
_SCHEMA = {8, 16, 47, 53, 60, 81}  # no such column, unknown table or database, type mismatch
# What the user should do, by kind (logged once, shown by the health check).
FIXES = {
    "authentication": "check clickhouse.username and clickhouse.password and the user's grants",
    "schema": "create the schema (flowweir orchestrator --once) for clickhouse.database",
    "encoding": "a batch could not be encoded for the server's columns; report it as a bug",
}


class InsertRefused(Exception):
    """ClickHouse refused a batch and retrying cannot change that (see FIXES)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.fix = FIXES[kind]


class EncodingError(Exception):
    """The batch could not be encoded for the columns the server announced."""


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
        host, port = parse_hostport(
            self.config.servers[self._server % len(self.config.servers)], 9000
        )
        return BlockClient(
            host=host,
            port=port,
            user=self.config.username,
            password=self.config.password.get_secret_value(),
            database=self.config.database,
            connect_timeout=self.config.timeout,
            send_receive_timeout=max(self.config.timeout, 30),
            compression=False,
        )

    def insert(
        self,
        columns: dict[str, ColumnData],
        should_stop: Callable[[], bool],
        idle: Callable[[], None],
    ) -> bool:
        """Insert one batch; retries with exponential backoff until it succeeds or `should_stop()`.

        `idle()` is called while waiting (the consumer keeps its group membership alive).
        Returns False only when told to stop before the batch was accepted; raises
        InsertRefused when ClickHouse refused it for a reason retrying cannot fix
        (authentication, unknown table, encoding): the caller stops writing.
        """
        n = len(columns[self.columns[0]])
        delay = 0.5
        while True:
            started = time.monotonic()
            try:
                if self._client is None:
                    self._client = self._connect()
                self._client.execute(self.query, (columns, n))
            except Exception as exc:  # network, server and protocol errors alike: retry
                kind = _error_kind(exc)
                self.stats.inc(P + "insert_errors", (kind,))
                self.stats.set(P + "up", (), 0)
                if kind in FIXES:
                    self._disconnect()
                    self.stats.set(P + "writer_stopped", (kind,), 1)
                    raise InsertRefused(kind, _first_line(exc)) from None
                if not self._down_logged:
                    self._down_logged = True
                    log.error(
                        "ClickHouse %s refused the batch (%s: %s); retrying with backoff, nothing is committed "
                        "and consumption pauses until it is back",
                        self.config.servers[self._server % len(self.config.servers)],
                        kind,
                        _first_line(exc),
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


def _first_line(exc: Exception) -> str:
    """The driver's messages start with "Code: N." on a line of their own: keep the useful part."""
    lines = [line for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    text = " ".join(lines[:2]) if lines[0].startswith("Code:") else lines[0]
    return text.split(" Stack trace:", 1)[0].split(", Stack trace", 1)[0][:300]


def _error_kind(exc: Exception) -> str:
    if isinstance(exc, EncodingError):
        return "encoding"
    code = getattr(exc, "code", None)
    if code in _AUTHENTICATION:
        return "authentication"
    if code in _SCHEMA:
        return "schema"
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


class BlockClient(Client):  # type: ignore[misc]
    """clickhouse-driver's Client, sending INSERT data as one block encoded by native.py."""

    # Client.process_insert_query hands `execute`'s params here once it has read the
    # sample block; this mirrors Client.send_data, with our bytes for the block.
    def send_data(
        self, sample_block: Any, data: Any, types_check: bool = False, columnar: bool = False
    ) -> int:
        columns, n = data
        conn = self.connection
        revision = conn.server_info.used_revision
        try:
            body = encode_block(
                sample_block.columns_with_types,
                columns,
                n,
                revision >= defines.DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION,
            )
        except (EncodeError, ValueError, TypeError, KeyError, OverflowError) as exc:
            raise EncodingError(f"cannot encode the batch: {type(exc).__name__}: {exc}") from exc
        write_varint(ClientPacketTypes.DATA, conn.fout)
        if revision >= defines.DBMS_MIN_REVISION_WITH_TEMPORARY_TABLES:
            write_binary_str("", conn.fout)
        if revision >= defines.DBMS_MIN_REVISION_WITH_BLOCK_INFO:
            BlockInfo().write(conn.fout)
        for piece in body:
            conn.fout.write(piece)
        conn.fout.flush()
        self.receive_profile_events()
        conn.send_data(ColumnOrientedBlock())  # an empty block ends the data
        self.receive_profile_events()
        return n
