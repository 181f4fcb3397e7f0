"""`flowweir demo-exporter` as a real subprocess, its datagrams caught by two UDP sinks."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from collector.devservices.base import free_port, wait_for
from collector.devservices.daemon import Daemon

INTERFACES = [
    {"index": 10, "name": "et-0/0/0", "description": "Transit: Cogent", "speed": 100000},
    {"index": 11, "name": "et-0/0/1", "description": "Peering: AMS-IX", "speed": 40000},
    {"index": 20, "name": "xe-1/0/0", "description": "Customer: Hooli", "speed": 10000},
    {"index": 21, "name": "ge-1/0/1", "description": "Core: to core2", "speed": 1000},
]
ROUTERS = [
    {"name": "test-nf9", "address": "127.0.0.21", "protocol": "netflow9", "sampling-rate": 500},
    {"name": "test-ipfix", "address": "127.0.0.22", "protocol": "ipfix", "sampling-rate": 250},
    {"name": "test-sflow", "address": "127.0.0.23", "protocol": "sflow", "sampling-rate": 4000},
]
COMMUNITY = "demo-secret"


@dataclass
class Capture:
    """Datagrams received from the demo exporter, with their source address."""

    netflow_port: int
    sflow_port: int
    datagrams: list[tuple[bytes, str, int]] = field(default_factory=list)  # data, source, port
    lock: threading.Lock = field(default_factory=threading.Lock)

    def from_source(self, address: str) -> list[bytes]:
        with self.lock:
            return [d for d, src, _ in self.datagrams if src == address]


@dataclass
class RunningExporter:
    daemon: Daemon
    capture: Capture
    snmp_port: int
    routers: list[dict] = field(default_factory=lambda: ROUTERS)


def _sink(sock: socket.socket, capture: Capture, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data, (host, _) = sock.recvfrom(65535)
        except TimeoutError:
            continue
        with capture.lock:
            capture.datagrams.append((data, host, sock.getsockname()[1]))


@pytest.fixture(scope="package")
def demo_exporter() -> Iterator[RunningExporter]:
    socks = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    capture = Capture(socks[0].getsockname()[1], socks[1].getsockname()[1])
    stop = threading.Event()
    threads = [threading.Thread(target=_sink, args=(s, capture, stop)) for s in socks]
    for t in threads:
        t.start()
    snmp_port = free_port(socket.SOCK_DGRAM)
    config = {
        "demo-exporter": {
            "targets": {
                "netflow9": f"127.0.0.1:{capture.netflow_port}",
                "ipfix": f"127.0.0.1:{capture.netflow_port}",
                "sflow": f"127.0.0.1:{capture.sflow_port}",
            },
            "daily-pattern": False,
            "template-interval": "1s",
            "counter-interval": "1s",
            "snmp": {"port": snmp_port, "community": COMMUNITY},
            "routers": [{**r, "interfaces": INTERFACES, "flows-per-second": 200} for r in ROUTERS],
        }
    }
    daemon = Daemon("demo-exporter", config)
    try:
        daemon.start(timeout=30)
        # templates twice (so a decoder sees them again) and some data from every router
        wait_for(
            lambda: all(len(capture.from_source(r["address"])) >= 20 for r in ROUTERS),
            30,
            f"datagrams from every router\n{daemon.log()}",
        )
        yield RunningExporter(daemon, capture, snmp_port)
    finally:
        daemon.stop()
        stop.set()
        for t in threads:
            t.join()
        for s in socks:
            s.close()
