"""Fixtures of the enrichment tests: real SNMP agents (Debian's snmpd, snmpsim), a gNMI target,
an HTTP server for remote static sources, a fake agent counting requests, and real Celery
workers and beat started with `flowweir enrich worker|beat` as subprocesses."""

from __future__ import annotations

import os
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from collector.config.shared import EnrichmentClientConfig, RedisConfig
from collector.devservices.base import Service, wait_for
from collector.devservices.gnmi import GNMITarget, openconfig_tree
from collector.devservices.redis import RedisServer
from collector.devservices.snmp import Snmpd, SnmpSim
from collector.metrics.stats import Stats
from enrich.client import CLIENT_METRICS, MetadataClient
from enrich.config import EnrichConfig

ROOT = Path(__file__).resolve().parents[2]
ENRICH_DB = 7  # Redis database used by these tests, flushed by each test


# ---- SNMP agents (collector/devservices/snmp.py) ---------------------------------------
@pytest.fixture(scope="session")
def snmpd() -> Iterator[Snmpd]:
    agent = Snmpd()
    agent.start(aliases={1: "loopback of the router"})
    yield agent
    agent.stop()


@pytest.fixture(scope="session")
def snmpsim() -> Iterator[SnmpSim]:
    with SnmpSim() as sim:
        yield sim


class UDPCounter:
    """A UDP socket that receives and never answers (a dead agent), counting datagrams; with
    `forward` it relays to a real agent and back instead (counting requests on the wire)."""

    def __init__(self, forward: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.forward = forward
        self.count = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        upstream.settimeout(2)
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.count += 1
            if self.forward:
                upstream.sendto(data, ("127.0.0.1", self.forward))
                try:
                    reply, _ = upstream.recvfrom(65535)
                except TimeoutError:
                    continue
                self.sock.sendto(reply, peer)

    def close(self) -> None:
        self._stop = True
        self._thread.join(1)
        self.sock.close()


@pytest.fixture
def udp_counter() -> Iterator[Callable[..., UDPCounter]]:
    made: list[UDPCounter] = []

    def make(forward: int | None = None) -> UDPCounter:
        made.append(UDPCounter(forward))
        return made[-1]

    yield make
    for c in made:
        c.close()


# ---- gNMI and HTTP ---------------------------------------------------------------------------
GNMI_INTERFACES = {
    1: ("Ethernet1", "transit Cogent", "SPEED_100GB"),
    2: ("Ethernet2", "peering IX", "SPEED_10GB"),
    3: ("Management0", "", "SPEED_1GB"),
}


@pytest.fixture
def gnmi_target() -> Iterator[GNMITarget]:
    target = GNMITarget(
        openconfig_tree("gnmi-router", GNMI_INTERFACES), username="admin", password="secret"
    ).start()
    yield target
    target.stop()


class HTTPSource:
    """Serves `self.routes[path] = (status, content type, body)`; counts requests."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                outer.requests += 1
                status, ctype, body = outer.routes.get(self.path, (404, "text/plain", b"no"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_source() -> Iterator[HTTPSource]:
    src = HTTPSource()
    yield src
    src.close()


# ---- Redis, configuration, Celery ------------------------------------------------------------
@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    url = f"redis://127.0.0.1:{redis_server.port}/{ENRICH_DB}"
    redis.Redis.from_url(url).flushdb()
    return url


class Deployment:
    """A configuration file for one test plus the workers, beat and clients started from it:
    `enrich` is the workers' section, `client` the outlets' `outlet.enrichment`."""

    def __init__(
        self, tmp: Path, redis_url: str, enrich: dict[str, Any], client: dict[str, Any]
    ) -> None:
        self.tmp = tmp
        self.redis_url = redis_url
        queue = f"enrich-test-{uuid.uuid4().hex[:8]}"
        self.data = {
            "redis": {"url": redis_url},
            "enrich": {
                "http": {"listen": "127.0.0.1:0"},
                "queue": queue,
                "concurrency": 2,
                **enrich,
            },
            "outlet": {"enrichment": {"queue": queue, **client}},
        }
        self.path = tmp / "flowweir.yaml"
        self.path.write_text(yaml.safe_dump(self.data))
        self.procs: list[Service] = []
        self.clients: list[MetadataClient] = []
        self.redis = redis.Redis.from_url(redis_url)

    @property
    def enrich(self) -> EnrichConfig:
        return EnrichConfig.model_validate(self.data["enrich"])

    def _cli(self, *argv: str, ready: str | None) -> Service:
        svc = Service()
        svc._spawn(
            [sys.executable, "-m", "collector.cli", "enrich", *argv, "--config", str(self.path)],
            env={"PYTHONPATH": str(ROOT)},
        )
        self.procs.append(svc)
        if ready is not None:
            wait_for(
                lambda: ready in svc.log_path.read_text(errors="replace"),
                30,
                f"`flowweir enrich {argv[0]}`\n{svc.log_tail()}",
                interval=0.1,
            )
        return svc

    def worker(self) -> Service:
        return self._cli("worker", ready=" ready.")

    def beat(self) -> Service:
        return self._cli(
            "beat", "--schedule-file", str(self.tmp / "beat-schedule"), ready="beat: Starting"
        )

    def client(self, **overrides: Any) -> tuple[MetadataClient, Stats]:
        stats = Stats(CLIENT_METRICS)
        config = EnrichmentClientConfig.model_validate(
            {**self.data["outlet"]["enrichment"], **overrides}
        )
        client = MetadataClient(config, RedisConfig(url=self.redis_url), stats)
        self.clients.append(client)
        return client, stats

    def close(self) -> None:
        for c in self.clients:
            c.close()
        for p in reversed(self.procs):
            p.stop()


@pytest.fixture
def deploy(tmp_path: Path, redis_url: str) -> Iterator[Callable[..., Deployment]]:
    made: list[Deployment] = []

    def make(enrich: dict[str, Any], client: dict[str, Any] | None = None) -> Deployment:
        made.append(Deployment(tmp_path, redis_url, enrich, client or {}))
        return made[-1]

    yield make
    for d in made:
        d.close()


os.environ.setdefault("SNMPSIM_ALLOW_ROOT", "true")


def worker_metric(d: Deployment, name: str, labels: tuple[str, ...] = ()) -> float:
    """Sum of one metric over the worker processes' snapshots published in Redis."""
    import json

    total = 0.0
    for raw in d.redis.hgetall("flowweir:md:v1:metrics").values():
        for n, lab, v in json.loads(raw):
            if n == name and tuple(lab) == labels:
                total += v
    return total
