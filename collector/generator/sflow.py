"""sFlow v5 for `flowweir demo-exporter` and the tests: flow samples and interface counters.

Each `FlowRecord` becomes one flow sample (a sampled packet): a raw packet header record
(Ethernet, IPv4 or IPv6, TCP/UDP/ICMP, as a switch ASIC would copy it), an extended router
record (next hop, masks) and an extended gateway record (AS numbers). The frame is
`bytes // packets` long; the collector counts one packet per sample and multiplies by the
sampling rate. `counters(interfaces)` gives a counter sample per interface (generic interface
counters), which real agents send every 20-30 s.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from collector.generator.flow import FlowRecord, packed

SAMPLES_PER_DATAGRAM = 8  # 8 samples of about 150 bytes: well below a 1,500 MTU
ETHERNET_IPV4 = 0x0800
ETHERNET_IPV6 = 0x86DD
_ROUTER_MAC = bytes.fromhex("02005e000001")
_PEER_MAC = bytes.fromhex("02005e000002")


@dataclass(frozen=True)
class InterfaceCounters:
    """What a counter sample reports for an interface (octets as seen by the agent)."""

    index: int
    speed_mbps: int
    in_octets: int = 0
    out_octets: int = 0
    in_packets: int = 0
    out_packets: int = 0


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def packet_header(flow: FlowRecord, frame_length: int) -> bytes:
    """The first bytes of the sampled frame: Ethernet, IP and transport headers."""
    if flow.proto == 6:
        l4 = struct.pack(
            "!HHIIBBHHH", flow.src_port, flow.dst_port, 1, 1, 5 << 4, flow.tcp_flags, 65535, 0, 0
        )
    elif flow.proto == 17:
        ip_header = 40 if flow.ipv6 else 20
        l4 = struct.pack(
            "!HHHH", flow.src_port, flow.dst_port, max(8, frame_length - 14 - ip_header), 0
        )
    elif flow.proto in (1, 58):
        l4 = struct.pack("!BBHI", flow.dst_port >> 8, flow.dst_port & 0xFF, 0, 0)
    else:
        l4 = b""
    if flow.ipv6:
        ip = struct.pack(
            "!IHBB16s16s",
            (6 << 28) | (flow.tos << 20),
            max(0, frame_length - 14 - 40),
            flow.proto,
            64,
            packed(flow.src, True),
            packed(flow.dst, True),
        )
        ethertype = ETHERNET_IPV6
    else:
        v4 = bytearray(
            struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                flow.tos,
                max(20, frame_length - 14),
                0,
                0x4000,
                64,
                flow.proto,
                0,
                packed(flow.src, False),
                packed(flow.dst, False),
            )
        )
        struct.pack_into("!H", v4, 10, _checksum(bytes(v4)))
        ip = bytes(v4)
        ethertype = ETHERNET_IPV4
    return _ROUTER_MAC + _PEER_MAC + struct.pack("!H", ethertype) + ip + l4


def _address(address: str, ipv6: bool) -> bytes:
    return struct.pack("!I", 2 if ipv6 else 1) + packed(address, ipv6)


def _record(fmt: int, body: bytes) -> bytes:
    pad = (-len(body)) % 4
    return struct.pack("!II", fmt, len(body) + pad) + body + b"\0" * pad


class SflowEncoder:
    """sFlow v5 datagrams of one agent (`agent` is its address, IPv4 or IPv6)."""

    def __init__(
        self,
        agent: str,
        sampling_rate: int = 1000,
        local_as: int = 0,
        sub_agent: int = 0,
        samples_per_datagram: int = SAMPLES_PER_DATAGRAM,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.agent = agent
        self.sampling_rate = sampling_rate
        self.local_as = local_as
        self.sub_agent = sub_agent
        self.samples_per_datagram = samples_per_datagram
        self.clock = clock
        self.boot = clock()
        self.sequence = 0  # datagrams
        self.sample_sequence: dict[int, int] = {}  # per source (ifIndex)
        self.pool: dict[int, int] = {}  # packets seen per source, sampled or not

    def _datagram(self, samples: list[bytes]) -> bytes:
        self.sequence = (self.sequence + 1) & 0xFFFFFFFF
        uptime = int((self.clock() - self.boot) * 1000) & 0xFFFFFFFF
        ipv6 = ":" in self.agent
        return (
            struct.pack("!I", 5)
            + _address(self.agent, ipv6)
            + struct.pack("!IIII", self.sub_agent, self.sequence, uptime, len(samples))
            + b"".join(samples)
        )

    def _next(self, source: int) -> int:
        seq = self.sample_sequence.get(source, 0) + 1
        self.sample_sequence[source] = seq
        return seq

    def flow_sample(self, flow: FlowRecord) -> bytes:
        frame = max(64, flow.bytes // max(1, flow.packets))
        header = packet_header(flow, frame)
        pool = self.pool[flow.in_if] = self.pool.get(flow.in_if, 0) + self.sampling_rate
        path = struct.pack("!III", 2, 1, flow.dst_as) if flow.dst_as else b""
        records = [
            _record(1, struct.pack("!IIII", 1, frame, 0, len(header)) + header),
            _record(
                1002,
                _address(flow.next_hop, flow.ipv6)
                + struct.pack("!II", flow.src_mask, flow.dst_mask),
            ),
            _record(
                1003,
                _address(flow.next_hop, flow.ipv6)
                + struct.pack("!IIII", self.local_as, flow.src_as, flow.src_as, 1 if path else 0)
                + path
                + struct.pack("!II", 0, 100),  # no communities, local preference 100
            ),
        ]
        body = struct.pack(
            "!IIIIIIII",
            self._next(flow.in_if),
            flow.in_if & 0xFFFFFF,
            self.sampling_rate,
            pool & 0xFFFFFFFF,
            0,
            flow.in_if,
            flow.out_if,
            len(records),
        ) + b"".join(records)
        return struct.pack("!II", 1, len(body)) + body

    def counter_sample(self, counters: InterfaceCounters) -> bytes:
        generic = struct.pack(
            "!IIQIIQIIIIIIQIIIIIII",
            counters.index,
            6,  # ethernetCsmacd
            counters.speed_mbps * 1_000_000,
            1,  # full duplex
            3,  # admin and operational status up
            counters.in_octets & 0xFFFFFFFFFFFFFFFF,
            counters.in_packets & 0xFFFFFFFF,
            0,
            0,
            0,
            0,
            0,
            counters.out_octets & 0xFFFFFFFFFFFFFFFF,
            counters.out_packets & 0xFFFFFFFF,
            0,
            0,
            0,
            0,
            0,
            0,  # not promiscuous
        )
        body = struct.pack("!III", self._next(counters.index), counters.index, 1) + _record(
            1, generic
        )
        return struct.pack("!II", 2, len(body)) + body

    def data(self, records: Sequence[FlowRecord]) -> list[bytes]:
        """Datagrams of `samples_per_datagram` flow samples, one per record."""
        samples = [self.flow_sample(r) for r in records]
        step = self.samples_per_datagram
        return [self._datagram(samples[i : i + step]) for i in range(0, len(samples), step)]

    def counters(self, interfaces: Sequence[InterfaceCounters]) -> list[bytes]:
        samples = [self.counter_sample(c) for c in interfaces]
        step = self.samples_per_datagram
        return [self._datagram(samples[i : i + step]) for i in range(0, len(samples), step)]
