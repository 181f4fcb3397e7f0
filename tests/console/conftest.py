"""Known flows in ClickHouse 18.16 (legacy) and chdb (modern), and a console over each.

The flows (`FLOWS`) are generated here, so tests compute what a graph must show from
this list, independently of the console's SQL.
"""

from __future__ import annotations

import base64
import itertools
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.config.root import parse_config
from collector.console.auth import hash_password
from collector.console.metrics import METRICS, LockedStats
from collector.console.root import Console
from collector.console.store import StateStore
from collector.schema.ddl import SchemaSettings
from collector.schema.dialect import LEGACY, MODERN
from collector.schema.executor import DriverExecutor
from collector.schema.migrate import Migrator
from tests.orchestrator.conftest import Backend, flow, ip

HOUR = 3600
DAY = 86400
# Everything is relative to NOW (the console's clock), the top of an hour, so that
# rollups and the flows table hold the same buckets.
import time as _time  # noqa: E402

NOW = int(_time.time()) // HOUR * HOUR
PASSWORD = "s3cret"
PASSWORD_HASH = hash_password(PASSWORD)

EXPORTERS = {1: "edge1", 2: "edge2"}
INTERFACES = {  # ifIndex: (name, provider, boundary, speed Mbit/s)
    10: ("et-0/0/1", "Cogent", 1, 100000),
    11: ("et-0/0/2", "FranceIX", 1, 10000),
    20: ("xe-1/0/0", "", 2, 10000),
}
SOURCES = [(15169, 10, 6), (13335, 11, 17), (64500, 10, 6), (64501, 11, 6)]


def _flows() -> list[dict[str, Any]]:
    """Flows every 5 minutes over the last 26 hours, plus one an hour over 30 days."""
    rows: list[dict[str, Any]] = []
    counter = itertools.count()
    times = [NOW - s for s in range(300, 26 * HOUR + 1, 300)]
    times += [NOW - d * DAY - h * HOUR for d in range(2, 30) for h in (3, 15)]
    for when in times:
        for exporter, name in EXPORTERS.items():
            for asn, in_if, proto in SOURCES:
                n = next(counter)
                in_name, provider, boundary, speed = INTERFACES[in_if]
                out_name, out_provider, out_boundary, out_speed = INTERFACES[20]
                rows.append(
                    flow(
                        when + exporter * 7,
                        ExporterAddress=ip(exporter),
                        ExporterName=name,
                        SamplingRate=100 if exporter == 1 else 1000,
                        SrcAddr=ip(100 + n % 3),
                        DstAddr=ip(n % 5),
                        SrcAS=asn,
                        DstAS=65000,
                        Proto=proto,
                        SrcPort=443 if proto == 6 else 53,
                        DstPort=40000 + n % 7,
                        Bytes=1000 * (1 + asn % 7) + n % 11,
                        Packets=2 + asn % 3,
                        InIf=in_if,
                        OutIf=20,
                        InIfName=in_name,
                        OutIfName=out_name,
                        InIfProvider=provider,
                        OutIfProvider=out_provider,
                        InIfBoundary=boundary,
                        OutIfBoundary=out_boundary,
                        InIfSpeed=speed,
                        OutIfSpeed=out_speed,
                        InIfDescription=f"Transit: {provider}" if provider else "Core",
                        SrcNetCountry="US" if asn == 15169 else "FR",
                    )
                )
    return rows


FLOWS = _flows()


@dataclass
class ConsoleUnderTest:
    kind: str
    console: Console
    client: TestClient
    backend: Backend

    @property
    def database(self) -> str:
        return self.backend.database


def basic(user: str = "alice", password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def console_config(database: str, server: str = "127.0.0.1:9000", **console: Any) -> Any:
    section = {
        "auth": {
            "users": [
                {"name": "alice", "email": "alice@example.net", "password-hash": PASSWORD_HASH},
                {"name": "bob", "password-hash": PASSWORD_HASH},
            ]
        },
        "state-file": ":memory:",
        "outlet-endpoints": ["127.0.0.1:1"],  # none (not whatever runs on 8081 here)
        **console,
    }
    return parse_config(
        {"clickhouse": {"servers": [server], "database": database}, "console": section}
    )


def migrated(server: Any, database: str) -> DriverExecutor:
    """`database` on the 18.16 server with the schema, and an executor (default user) on it."""
    executor = DriverExecutor(server.address, timeout=300)  # backfills take seconds
    Migrator(
        executor,
        SchemaSettings(database=database),
        dictionaries_path=str(Path(server.dir) / "dictionaries"),
    ).migrate()
    return executor


def _filled(backend: Backend) -> Backend:
    backend.migrator().migrate()
    for i in range(0, len(FLOWS), 5000):
        backend.insert(FLOWS[i : i + 5000])
    return backend


@pytest.fixture(scope="session")
def legacy_flows(clickhouse_server) -> Backend:  # type: ignore[no-untyped-def]
    backend = Backend(
        "legacy",
        DriverExecutor(clickhouse_server.address),
        "console_legacy",
        str(Path(clickhouse_server.dir) / "dictionaries"),
        client=clickhouse_server.client(),
    )
    return _filled(backend)


@pytest.fixture(scope="session")
def modern_flows(chdb_executor) -> Backend:  # type: ignore[no-untyped-def]
    return _filled(Backend("modern", chdb_executor, "console_modern", None))


def make_console(
    backend: Backend, server: str = "", user: str = "flowweir_console", **kw: Any
) -> Console:
    config = console_config(backend.database, server or "127.0.0.1:9000", **kw)
    config.console.clickhouse_username = user
    if backend.kind == "modern":
        return Console(
            config,
            LockedStats(METRICS),
            executor_factory=lambda: backend.executor,
            store=StateStore(":memory:"),
            clock=lambda: NOW,
            dialect=MODERN,
        )
    return Console(
        config,
        LockedStats(METRICS),
        store=StateStore(":memory:"),
        clock=lambda: NOW,
        dialect=LEGACY,
    )


@pytest.fixture(params=["legacy", "modern"])
def cut(request: pytest.FixtureRequest, clickhouse_server) -> Iterator[ConsoleUnderTest]:  # type: ignore[no-untyped-def]
    backend: Backend = request.getfixturevalue(f"{request.param}_flows")
    console = make_console(backend, clickhouse_server.address)
    with TestClient(console.app) as client:
        client.headers.update(basic())
        yield ConsoleUnderTest(request.param, console, client, backend)


@pytest.fixture
def state_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="flowweir-console-") as path:
        yield Path(path)
