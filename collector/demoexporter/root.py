"""The demo exporter: simulated routers sending flows, each with an SNMP agent.

`DemoExporter(config, stats)` builds one `RouterExporter` per router (its traffic, its encoder,
a UDP socket bound to its address) and one `SNMPAgent` each. `open()` binds every socket (the
errors a user can cause are raised there as `DemoExporterError`, one line each), `run(stop)`
serves until `stop` is set, `start()`/`stop()` do the same in a thread for in-process users
(benchmarks, tests). Everything runs on one asyncio loop: the agents answer between ticks.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from collector.config.types import parse_hostport
from collector.demoexporter import metrics as m
from collector.demoexporter.config import DemoExporterConfig, RouterConfig
from collector.demoexporter.snmp import SNMPAgent
from collector.demoexporter.traffic import Pacer, RouterTraffic, daily_factor
from collector.generator.flow import FlowRecord
from collector.generator.ipfix import IPFIXEncoder
from collector.generator.netflow9 import NetFlowV9Encoder
from collector.generator.sflow import InterfaceCounters, SflowEncoder
from collector.generator.template import TemplateEncoder
from collector.metrics.stats import Stats

log = logging.getLogger("collector.demoexporter")

TICK = 0.5  # seconds between two sends of a router: flows are batched per tick


class DemoExporterError(Exception):
    """Something the user must fix (an address not on this machine, a port in use)."""


def _bind_error(what: str, address: str, port: int, exc: OSError, fix: str) -> DemoExporterError:
    hint = {
        errno.EADDRNOTAVAIL: "use an address of this machine (on loopback any 127.0.0.x works)",
        errno.EADDRINUSE: "another program uses it",
        errno.EACCES: "ports below 1024 need root",
    }.get(exc.errno or 0, "")
    reason = f"{exc.strerror}" + (f"; {hint}" if hint else "")
    return DemoExporterError(f"{what}: cannot bind {address}:{port}: {reason}; {fix}")


class RouterExporter:
    """One router's export: what is due at each tick, encoded and sent from its address."""

    def __init__(
        self,
        router: RouterConfig,
        config: DemoExporterConfig,
        domain: int,
        stats: Stats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.router = router
        self.config = config
        self.stats = stats
        self.clock = clock
        self.traffic = RouterTraffic(router, config.seed)
        now = clock()
        self.pacer = Pacer(router.flows_per_second, config.daily_pattern, now)
        self.encoder: TemplateEncoder | SflowEncoder
        if router.protocol == "netflow9":
            self.encoder = NetFlowV9Encoder(domain, router.sampling_rate, clock=clock)
        elif router.protocol == "ipfix":
            self.encoder = IPFIXEncoder(domain, router.sampling_rate, clock=clock)
        else:
            self.encoder = SflowEncoder(
                router.address, router.sampling_rate, router.local_as, clock=clock
            )
        self.target_text = getattr(config.targets, router.protocol)
        self.next_templates = 0.0
        self.next_counters = now + config.counter_interval
        self.octets: dict[int, list[int]] = {i.index: [0, 0, 0, 0] for i in router.interfaces}
        self.sock: socket.socket | None = None
        self.target: Any = None
        self.labels = (router.name, router.protocol)
        self.sent = 0  # flows

    def open(self) -> None:
        family = socket.AF_INET6 if ":" in self.router.address else socket.AF_INET
        host, port = parse_hostport(self.target_text, 0)
        where = f"demo-exporter.targets.{self.router.protocol}"
        try:
            self.target = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)[0][4]
        except OSError:
            fam = "IPv6" if family == socket.AF_INET6 else "IPv4"
            raise DemoExporterError(
                f"{where}: {self.target_text} has no {fam} address for router "
                f"{self.router.name} ({self.router.address}); change the target or the address"
            ) from None
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((self.router.address, 0))
        except OSError as exc:
            sock.close()
            raise _bind_error(
                f"router {self.router.name}", self.router.address, 0, exc, "change its address"
            ) from None
        sock.setblocking(False)
        self.sock = sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _send(self, datagrams: list[bytes]) -> None:
        assert self.sock is not None
        for datagram in datagrams:
            try:
                self.sock.sendto(datagram, self.target)
            except OSError:  # nobody listening (ICMP refused), buffer full: a router just loses it
                self.stats.inc(m.EXPORT_ERRORS, (self.router.name, m.SEND_FAILED))
            else:
                self.stats.inc(m.DATAGRAMS, self.labels)

    def templates(self) -> list[bytes]:
        """NetFlow v9/IPFIX: the templates and sampling options; sFlow: nothing."""
        return [self.encoder.templates()] if isinstance(self.encoder, TemplateEncoder) else []

    def encode(self, flows: list[FlowRecord]) -> list[bytes]:
        """The datagrams carrying `flows` (what `tick` sends; benchmarks use it without sockets)."""
        return self.encoder.data(flows) if flows else []

    def tick(self, now: float) -> int:
        """Send what is due at `now`; the number of flows sent."""
        if now >= self.next_templates and (templates := self.templates()):
            self._send(templates)
            self.next_templates = now + self.config.template_interval
        due = self.pacer.due(now)
        if self.config.flow_limit:
            due = min(due, self.config.flow_limit - self.sent)
        flows = self.traffic.flows(due, now)
        self.sent += len(flows)
        if flows:
            self._send(self.encode(flows))
            self.stats.inc(m.FLOWS, self.labels, len(flows))
        if isinstance(self.encoder, SflowEncoder):
            self._count(flows)
            if now >= self.next_counters:
                self._send(self.encoder.counters(self._counters()))
                self.next_counters = now + self.config.counter_interval
        factor = daily_factor(now) if self.config.daily_pattern else 1.0
        self.stats.set(m.FLOW_RATE, (self.router.name,), self.router.flows_per_second * factor)
        return len(flows)

    def _count(self, flows: list[FlowRecord]) -> None:
        rate = self.router.sampling_rate
        for f in flows:
            for index, offset in ((f.in_if, 0), (f.out_if, 2)):
                c = self.octets.get(index)
                if c is not None:
                    c[offset] += f.bytes * rate
                    c[offset + 1] += f.packets * rate

    def _counters(self) -> list[InterfaceCounters]:
        return [
            InterfaceCounters(
                i.index, i.speed, *self.octets[i.index][::2], *self.octets[i.index][1::2]
            )
            for i in self.router.interfaces
        ]


def _factory(agent: SNMPAgent) -> Callable[[], SNMPAgent]:
    return lambda: agent


class DemoExporter:
    def __init__(
        self,
        config: DemoExporterConfig,
        stats: Stats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.stats = stats
        self.clock = clock
        self.routers = [
            RouterExporter(r, config, n + 1, stats, clock) for n, r in enumerate(config.routers)
        ]
        self.agents = (
            [SNMPAgent(r, config.snmp.community, stats) for r in config.routers]
            if config.snmp.enabled
            else []
        )
        self._agent_sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()
        self.failure: BaseException | None = None

    def open(self) -> None:
        """Bind every socket; DemoExporterError (one line) when one cannot be bound."""
        try:
            for router in self.routers:
                router.open()
            for agent in self.agents:
                family = socket.AF_INET6 if ":" in agent.router.address else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_DGRAM)
                self._agent_sockets.append(sock)
                port = self.config.snmp.port
                try:
                    sock.bind((agent.router.address, port))
                except OSError as exc:
                    raise _bind_error(
                        f"SNMP agent of {agent.router.name}",
                        agent.router.address,
                        port,
                        exc,
                        "change demo-exporter.snmp.port",
                    ) from None
        except DemoExporterError:
            self.close()
            raise

    def close(self) -> None:
        for router in self.routers:
            router.close()
        for sock in self._agent_sockets:
            sock.close()
        self._agent_sockets = []

    @property
    def snmp_ports(self) -> dict[str, int]:
        """Router address -> port its agent listens on (the configured one, or the one given)."""
        return {
            agent.router.address: int(sock.getsockname()[1])
            for agent, sock in zip(self.agents, self._agent_sockets, strict=True)
        }

    def health(self) -> tuple[bool, dict[str, Any]]:
        return self.ready.is_set(), {"routers": [r.router.name for r in self.routers]}

    async def _serve(self, stop: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        transports = []
        for agent, sock in zip(self.agents, self._agent_sockets, strict=True):
            transport, _ = await loop.create_datagram_endpoint(_factory(agent), sock=sock)
            transports.append(transport)
        self.ready.set()
        log.info(
            "demo exporter: %s",
            "; ".join(
                f"{r.router.name} {r.router.protocol} from {r.router.address} to {r.target_text}"
                for r in self.routers
            ),
        )
        try:
            next_tick = loop.time()
            while not stop.is_set():
                now = self.clock()
                for router in self.routers:
                    router.tick(now)
                next_tick += TICK
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
        finally:
            for transport in transports:
                transport.close()
            self._agent_sockets = []

    def run(self, stop: threading.Event) -> None:
        """Serve on this thread until `stop` is set (`open()` first)."""
        try:
            asyncio.run(self._serve(stop))
        finally:
            self.close()

    def start(self) -> DemoExporter:
        """Open and serve in a background thread (for benchmarks and tests)."""
        self.open()

        def body() -> None:
            try:
                self.run(self._stop)
            except BaseException as exc:  # reported by stop()
                self.failure = exc
                self.ready.set()

        self._thread = threading.Thread(target=body, name="demo-exporter", daemon=True)
        self._thread.start()
        self.ready.wait(10)
        if self.failure is not None:
            raise self.failure
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
