"""Run SQL strings on a ClickHouse server (clickhouse-driver) or in-process (chdb).

The schema layer only ever produces SQL text and reads result rows, so both
backends are interchangeable: production talks to servers, tests prove the
modern DDL in chdb.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from collector.config.types import parse_hostport


class Executor(Protocol):
    """Something that runs one SQL statement and returns its rows."""

    name: str  # what to call the server in messages (`127.0.0.1:9000`, `chdb`)

    def query(self, sql: str) -> list[tuple[Any, ...]]: ...


class ClickHouseUnreachable(Exception):
    """The server does not answer; str() names it (the caller adds the fix)."""


class DriverExecutor:
    """A clickhouse-driver connection to one server (native protocol)."""

    def __init__(
        self,
        server: str,
        username: str = "default",
        password: str = "",
        timeout: float = 10.0,
    ) -> None:
        from clickhouse_driver import Client

        host, port = parse_hostport(server, 9000)
        self.name = f"{host}:{port}"
        self.client = Client(
            host=host or "127.0.0.1",
            port=port,
            user=username,
            password=password,
            connect_timeout=timeout,
            send_receive_timeout=timeout,
            sync_request_timeout=timeout,
        )

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        from clickhouse_driver import errors

        try:
            return list(self.client.execute(sql))
        except (errors.NetworkError, errors.SocketTimeoutError, OSError, EOFError) as exc:
            self.client.disconnect()
            reason = str(getattr(exc, "message", "") or exc or type(exc).__name__)
            raise ClickHouseUnreachable(f"ClickHouse {self.name} unreachable ({reason})") from None

    def close(self) -> None:
        self.client.disconnect()


class ChdbExecutor:
    """chdb's embedded ClickHouse, one session (a data directory) per executor."""

    def __init__(self, path: str) -> None:
        from chdb import session

        self.name = "chdb"
        self.session = session.Session(path)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        result = self.session.query(sql, "JSONCompact")
        raw = result.bytes() if hasattr(result, "bytes") else bytes(result)
        if not raw.strip():
            return []
        rows = json.loads(raw)["data"]
        return [tuple(row) for row in rows]

    def close(self) -> None:
        self.session.close()
