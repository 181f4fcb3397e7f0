"""The traffic of a simulated router: who talks to its customers, through which interfaces.

Most flows come from a few content networks (their real AS numbers and prefixes) through an
external interface (transit, peering) to a customer prefix behind an internal interface; a
sixth go the other way. Each service has its protocols and ports (HTTPS over TCP and QUIC,
DNS, NTP, SSH, a game, ICMP), its packet sizes and flow lengths. The volume follows the time
of day (`daily_factor`), so a day of demo traffic has the shape of a real one.
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collector.demoexporter.config import InterfaceConfig, RouterConfig
from collector.generator.flow import FlowRecord

# Relative traffic at each hour of the day (local time), interpolated in between:
# lowest at 05:00, highest at 21:00, as in an access network.
HOURLY = (
    0.45, 0.35, 0.26, 0.19, 0.15, 0.13, 0.16, 0.25, 0.38, 0.48, 0.54, 0.58,
    0.62, 0.63, 0.63, 0.66, 0.71, 0.77, 0.84, 0.91, 0.97, 1.00, 0.90, 0.66,
)  # fmt: skip


def daily_factor(when: float) -> float:
    """Traffic relative to the daily peak (0.13-1.0) at Unix time `when`."""
    t = time.localtime(when)
    hour = t.tm_hour + t.tm_min / 60 + t.tm_sec / 3600
    i = int(hour) % 24
    frac = hour - int(hour)
    return HOURLY[i] * (1 - frac) + HOURLY[(i + 1) % 24] * frac


@dataclass(frozen=True)
class Port:
    proto: int
    port: int
    weight: float
    size: int  # typical packet size toward the customer (bytes)
    packets: float  # mean sampled packets per flow record


@dataclass(frozen=True)
class ContentService:
    name: str
    asn: int
    v4: tuple[str, ...]
    v6: tuple[str, ...]
    ports: tuple[Port, ...]
    weight: float


HTTPS, QUIC, HTTP = (
    Port(6, 443, 0.6, 1400, 12),
    Port(17, 443, 0.4, 1250, 10),
    Port(6, 80, 0.2, 1300, 6),
)
SERVICES = (
    ContentService("Google", 15169, ("142.250.0.0/15", "172.217.0.0/16"), ("2a00:1450::/32",), (HTTPS, QUIC), 25),
    ContentService("Netflix", 2906, ("198.38.96.0/19", "45.57.0.0/17"), ("2a00:86c0::/32",), (Port(6, 443, 1, 1450, 40),), 20),
    ContentService("Meta", 32934, ("157.240.0.0/16", "31.13.64.0/18"), ("2a03:2880::/29",), (HTTPS, QUIC), 12),
    ContentService("Akamai", 20940, ("23.32.0.0/11",), ("2a02:26f0::/29",), (HTTPS, HTTP), 10),
    ContentService("Amazon", 16509, ("52.84.0.0/15", "54.239.0.0/16"), ("2600:9000::/28",), (HTTPS,), 10),
    ContentService("Cloudflare", 13335, ("104.16.0.0/13",), ("2606:4700::/32",), (HTTPS, HTTP, Port(17, 53, 0.2, 120, 1)), 10),
    ContentService("Microsoft", 8075, ("20.33.0.0/16", "13.107.0.0/16"), ("2603:1000::/24",), (HTTPS,), 6),
    ContentService("Valve", 32590, ("155.133.224.0/19",), (), (Port(17, 27015, 1, 180, 20),), 3),
    ContentService("OVH", 16276, ("51.68.0.0/16", "91.121.0.0/16"), ("2001:41d0::/32",), (
        Port(6, 22, 0.3, 200, 8), HTTPS, Port(17, 123, 0.1, 90, 1), Port(1, 0, 0.1, 84, 1),
    ), 4),
)  # fmt: skip
SERVERS_PER_PREFIX = 64  # distinct addresses a content prefix shows
CUSTOMERS_PER_PREFIX = 200
OUTBOUND_SHARE = 1 / 6  # customers toward the services (uploads, requests)
IPV6_SHARE = 0.3


def _weighted(rng: random.Random, items: Sequence[InterfaceConfig]) -> InterfaceConfig:
    return rng.choices(items, weights=[max(1, i.speed) for i in items])[0]


def _host(rng: random.Random, prefix: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    size = prefix.num_addresses
    return str(prefix.network_address + (rng.randrange(1, size - 1) if size > 2 else 0))


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RouterTraffic:
    """Flow records of one router: `flows(n, now)`; the same seed gives the same traffic."""

    def __init__(self, router: RouterConfig, seed: int = 1) -> None:
        self.router = router
        self.rng = random.Random(f"{seed}:{router.name}")
        self.external = [i for i in router.interfaces if i.external]
        self.internal = [i for i in router.interfaces if not i.external]
        nets = [ipaddress.ip_network(p, strict=False) for p in router.prefixes]
        self.local: dict[int, list[Network]] = {
            4: [n for n in nets if n.version == 4],
            6: [n for n in nets if n.version == 6],
        }
        self.services: list[tuple[ContentService, dict[int, list[Network]]]] = [
            (s, {4: [ipaddress.ip_network(p) for p in s.v4], 6: [ipaddress.ip_network(p) for p in s.v6]})
            for s in SERVICES
        ]  # fmt: skip
        self.weights = [s.weight for s in SERVICES]
        self.sflow = router.protocol == "sflow"
        self.pools: dict[Network, list[str]] = {}

    def _hosts(self, net: Network) -> list[str]:
        """The hosts of a prefix that take part (a fixed population, as in real traffic)."""
        hosts = self.pools.get(net)
        if hosts is None:
            n = SERVERS_PER_PREFIX if net not in self.local[net.version] else CUSTOMERS_PER_PREFIX
            hosts = self.pools[net] = [_host(self.rng, net) for _ in range(n)]
        return hosts

    def flow(self, now_ms: int) -> FlowRecord:
        r = self.rng
        service, nets = r.choices(self.services, weights=self.weights)[0]
        port = r.choices(service.ports, weights=[p.weight for p in service.ports])[0]
        family = 6 if nets[6] and self.local[6] and r.random() < IPV6_SHARE else 4
        remote_net = r.choice(nets[family])
        local_net = r.choice(self.local[family])
        remote, local = r.choice(self._hosts(remote_net)), r.choice(self._hosts(local_net))
        ext, inside = _weighted(r, self.external), _weighted(r, self.internal)
        ephemeral = r.randrange(32768, 61000)
        inbound = r.random() >= OUTBOUND_SHARE
        if self.sflow:  # one sampled packet
            packets = 1
        else:
            packets = 1 + min(int(r.expovariate(1 / port.packets)), 50 * int(port.packets))
        size = port.size if inbound else max(52, port.size // 10)
        size = max(46, int(size * r.uniform(0.8, 1.07)))
        size = min(size, 1500)
        nh_ext = f"2001:db8:ffff:{ext.index:x}::1" if family == 6 else f"100.64.{ext.index % 256}.1"
        duration = int(r.expovariate(1 / 5000)) if packets > 1 else 0
        end = now_ms - r.randrange(0, 1000)
        common: dict[str, Any] = {
            "proto": port.proto,
            "bytes": size * packets,
            "packets": packets,
            "tcp_flags": (0x18 if r.random() < 0.8 else 0x10) if port.proto == 6 else 0,
            "start_ms": end - duration,
            "end_ms": end,
        }
        if port.proto == 1:  # ICMP: type and code in the destination port; echo and reply
            sport, dport = 0, 0 if inbound else 0x0800
        else:
            sport, dport = (port.port, ephemeral) if inbound else (ephemeral, port.port)
        if inbound:
            return FlowRecord(
                src=remote, dst=local, src_port=sport, dst_port=dport,
                in_if=ext.index, out_if=inside.index, src_as=service.asn,
                dst_as=self.router.local_as, src_mask=remote_net.prefixlen,
                dst_mask=local_net.prefixlen, **common,
            )  # fmt: skip
        return FlowRecord(
            src=local, dst=remote, src_port=sport, dst_port=dport,
            in_if=inside.index, out_if=ext.index, src_as=self.router.local_as,
            dst_as=service.asn, src_mask=local_net.prefixlen, dst_mask=remote_net.prefixlen,
            next_hop=nh_ext, **common,
        )  # fmt: skip

    def flows(self, n: int, now: float) -> list[FlowRecord]:
        now_ms = int(now * 1000)
        return [self.flow(now_ms) for _ in range(n)]


class Pacer:
    """How many flows are due at each tick: `rate` per second times the daily factor, exactly
    over time (the fraction carries over to the next tick)."""

    def __init__(self, rate: float, daily: bool, start: float) -> None:
        self.rate = rate
        self.daily = daily
        self.last = start
        self.carry = 0.0

    def due(self, now: float) -> int:
        elapsed = max(0.0, now - self.last)
        self.last = now
        factor = daily_factor(now) if self.daily else 1.0
        self.carry += self.rate * factor * elapsed
        n = int(self.carry)
        self.carry -= n
        return n
