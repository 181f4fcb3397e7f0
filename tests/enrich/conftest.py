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

from collector.metrics.stats import Stats
from enrich.client import CLIENT_METRICS, MetadataClient
from enrich.config import EnrichConfig
from tests.enrich.gnmi_target import GNMITarget, openconfig_tree
from tests.services.base import Service, free_port, wait_for
from tests.services.redis import RedisServer

ROOT = Path(__file__).resolve().parents[2]
SNMP_USER = ("flowuser", "authpass123", "privpass123")  # SHA / AES
ENRICH_DB = 7  # Redis database used by these tests, flushed by each test


# ---- SNMP agents -------------------------------------------------------------------------
class Snmpd(Service):
    """Debian's net-snmp agent: v2c community `public`, v3 user flowuser (SHA/AES authPriv)."""

    name = "snmpd"

    def __init__(self, port: int | None = None) -> None:
        super().__init__()
        self.port = port or free_port(socket.SOCK_DGRAM)

    def start(self, sys_name: str = "snmpd-router", aliases: dict[int, str] | None = None) -> Snmpd:
        user, auth, priv = SNMP_USER
        lines = [
            f"agentaddress udp:127.0.0.1:{self.port}",
            "rocommunity public 127.0.0.1",
            f'createUser {user} SHA "{auth}" AES "{priv}"',
            f"rouser {user} priv",
            f"sysName {sys_name}",
        ]
        for ifindex, alias in (aliases or {}).items():
            lines.append(f'override 1.3.6.1.2.1.31.1.1.1.18.{ifindex} octet_str "{alias}"')
        conf = self.dir / "snmpd.conf"
        conf.write_text("\n".join(lines) + "\n")
        persist = self.dir / "persist"
        persist.mkdir(exist_ok=True)
        self._spawn(
            ["/usr/sbin/snmpd", "-f", "-C", "-c", str(conf), "-m", "", "-Lo"],
            env={"SNMP_PERSISTENT_DIR": str(persist), "MIBS": ""},
        )
        wait_for(lambda: snmp_answers(self.port), 10, f"snmpd on {self.port}\n{self.log_tail()}")
        return self

    def restart(self, **kwargs: Any) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
            self._log.close()
        self.start(**kwargs)


def snmp_answers(port: int, community: str = "public") -> bool:
    import subprocess

    out = subprocess.run(
        [
            "snmpget",
            "-v2c",
            "-c",
            community,
            "-m",
            "",
            "-t",
            "0.3",
            "-r",
            "0",
            f"127.0.0.1:{port}",
            "1.3.6.1.2.1.1.5.0",
        ],
        capture_output=True,
        text=True,
    )
    return out.returncode == 0


@pytest.fixture(scope="session")
def snmpd() -> Iterator[Snmpd]:
    agent = Snmpd()
    agent.start(aliases={1: "loopback of the router"})
    yield agent
    agent.stop()


def snmpsim_interfaces(n: int = 50) -> dict[int, tuple[str, str, int]]:
    """ifIndex -> (ifName, ifAlias, ifHighSpeed) of the simulated router."""
    speeds = (1000, 10000, 100000)
    return {
        i: (f"et-0/0/{i - 1}", f"customer {i} - circuit C{1000 + i}", speeds[i % 3])
        for i in range(1, n + 1)
    }


def write_snmprec(path: Path, sys_name: str, interfaces: dict[int, tuple[str, str, int]]) -> None:
    rows = [("1.3.6.1.2.1.1.5.0", "4", sys_name)]
    for i, (name, _, _) in interfaces.items():
        rows.append((f"1.3.6.1.2.1.2.2.1.2.{i}", "4", f"Juniper {name}"))
    for i, (name, _, _) in interfaces.items():
        rows.append((f"1.3.6.1.2.1.31.1.1.1.1.{i}", "4", name))
    for i, (_, _, speed) in interfaces.items():
        rows.append((f"1.3.6.1.2.1.31.1.1.1.15.{i}", "66", str(speed)))
    for i, (_, alias, _) in interfaces.items():
        rows.append((f"1.3.6.1.2.1.31.1.1.1.18.{i}", "4", alias))

    def oid_key(row: tuple[str, str, str]) -> tuple[int, ...]:
        return tuple(int(x) for x in row[0].split("."))

    path.write_text("".join(f"{o}|{t}|{v}\n" for o, t, v in sorted(rows, key=oid_key)))


class SnmpSim(Service):
    """snmpsim router `router50` (community = file name) with 50 interfaces."""

    name = "snmpsim"
    community = "router50"

    def __init__(self) -> None:
        super().__init__()
        self.port = free_port(socket.SOCK_DGRAM)
        self.interfaces = snmpsim_interfaces()

    def start(self) -> SnmpSim:
        data = self.dir / "data"
        data.mkdir()
        write_snmprec(data / f"{self.community}.snmprec", "sim-router-par1", self.interfaces)
        self._spawn(
            [
                str(ROOT / ".venv/bin/snmpsim-command-responder"),
                f"--data-dir={data}",
                f"--cache-dir={self.dir / 'cache'}",
                f"--agent-udpv4-endpoint=127.0.0.1:{self.port}",
                "--max-var-binds=1024",
            ],
            env={"SNMPSIM_ALLOW_ROOT": "true"},
        )
        wait_for(
            lambda: snmp_answers(self.port, self.community),
            30,
            f"snmpsim on {self.port}\n{self.log_tail()}",
            interval=0.2,
        )
        return self


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
    """A configuration file for one test plus the workers, beat and clients started from it."""

    def __init__(self, tmp: Path, redis_url: str, enrich: dict[str, Any]) -> None:
        self.tmp = tmp
        self.redis_url = redis_url
        self.data = {
            "redis": {"url": redis_url},
            "enrich": {
                "http": {"listen": "127.0.0.1:0"},
                "queue": f"enrich-test-{uuid.uuid4().hex[:8]}",
                "concurrency": 2,
                **enrich,
            },
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
        from collector.config.shared import RedisConfig

        stats = Stats(CLIENT_METRICS)
        config = EnrichConfig.model_validate({**self.data["enrich"], **overrides})
        client = MetadataClient(config, RedisConfig(url=self.redis_url), stats)
        self.clients.append(client)
        return client, stats

    def close(self) -> None:
        for c in self.clients:
            c.close()
        for p in reversed(self.procs):
            p.stop()


@pytest.fixture
def deploy(tmp_path: Path, redis_url: str) -> Iterator[Callable[[dict[str, Any]], Deployment]]:
    made: list[Deployment] = []

    def make(enrich: dict[str, Any]) -> Deployment:
        made.append(Deployment(tmp_path, redis_url, enrich))
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
