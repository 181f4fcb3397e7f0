"""NetFlow v9 for the demo exporter, the tests and the benchmarks.

`NetFlowV9Exporter` and `flood` build realistic datagrams (a template, an options
template carrying the sampling interval, data flowsets of 30 records = 1,464
bytes) once, and then only patch the sequence number and timestamps, so a single
process can flood an inlet faster than the inlet reads. `NetFlowV9Encoder` encodes
any `FlowRecord` (IPv4 and IPv6, 4-byte AS numbers), for `flowweir demo-exporter`.
"""

from __future__ import annotations

import random
import socket
import struct
import time

from collector.generator.flow import FlowRecord
from collector.generator.template import OPTIONS_TEMPLATE_ID as ENCODER_OPTIONS_TEMPLATE_ID
from collector.generator.template import Getter, TemplateEncoder

TEMPLATE_ID = 260
OPTIONS_TEMPLATE_ID = 261
RECORDS_PER_DATAGRAM = 30

# (field type, length): 21 typical fields, 48 bytes per record.
FIELDS: tuple[tuple[int, int], ...] = (
    (1, 4),  # IN_BYTES
    (2, 4),  # IN_PKTS
    (4, 1),  # PROTOCOL
    (5, 1),  # SRC_TOS
    (6, 1),  # TCP_FLAGS
    (7, 2),  # L4_SRC_PORT
    (8, 4),  # IPV4_SRC_ADDR
    (9, 1),  # SRC_MASK
    (10, 2),  # INPUT_SNMP
    (11, 2),  # L4_DST_PORT
    (12, 4),  # IPV4_DST_ADDR
    (13, 1),  # DST_MASK
    (14, 2),  # OUTPUT_SNMP
    (15, 4),  # IPV4_NEXT_HOP
    (16, 2),  # SRC_AS
    (17, 2),  # DST_AS
    (21, 4),  # LAST_SWITCHED
    (22, 4),  # FIRST_SWITCHED
    (60, 1),  # IP_PROTOCOL_VERSION
    (61, 1),  # DIRECTION
    (89, 1),  # FORWARDING_STATUS
)
RECORD = struct.Struct("!IIBBBHIBHHIBHIHHIIBBB")
assert RECORD.size == sum(length for _, length in FIELDS) == 48
HEADER = struct.Struct("!HHIIII")  # version, count, sysUptime, unix secs, sequence, source id


# One record of the generated traffic (what a test expects to see decoded).
Flow = FlowRecord


def _flowset(flowset_id: int, body: bytes) -> bytes:
    pad = (-len(body)) % 4
    return struct.pack("!HH", flowset_id, 4 + len(body) + pad) + body + b"\x00" * pad


class NetFlowV9Exporter:
    def __init__(
        self,
        source_id: int = 1,
        sampling_interval: int = 1000,
        seed: int = 1,
        interfaces: tuple[int, ...] = (1, 2, 3, 4),
    ) -> None:
        self.source_id = source_id
        self.sampling_interval = sampling_interval
        self.sequence = 0
        self.boot = time.time()
        self.rng = random.Random(seed)
        self.interfaces = interfaces

    def _header(self, count: int) -> bytes:
        now = time.time()
        self.sequence += 1
        return HEADER.pack(
            9,
            count,
            int((now - self.boot) * 1000) & 0xFFFFFFFF,
            int(now),
            self.sequence,
            self.source_id,
        )

    def templates(self) -> bytes:
        """Template + options template (sampling interval) + its data, in one datagram."""
        tmpl = struct.pack("!HH", TEMPLATE_ID, len(FIELDS)) + b"".join(
            struct.pack("!HH", t, n) for t, n in FIELDS
        )
        # Options template: scope System (1) of 4 bytes; SAMPLING_INTERVAL (34), SAMPLING_ALGORITHM (35).
        opt = (
            struct.pack("!HHH", OPTIONS_TEMPLATE_ID, 4, 8)
            + struct.pack("!HH", 1, 4)
            + struct.pack("!HHHH", 34, 4, 35, 1)
        )
        opt_data = struct.pack("!IIB", 0, self.sampling_interval, 2)
        body = _flowset(0, tmpl) + _flowset(1, opt) + _flowset(OPTIONS_TEMPLATE_ID, opt_data)
        return self._header(3) + body

    def random_flow(self) -> Flow:
        r = self.rng
        return Flow(
            src=f"10.{r.randrange(0, 4)}.{r.randrange(256)}.{r.randrange(1, 255)}",
            dst=f"198.51.100.{r.randrange(1, 255)}",
            src_port=r.randrange(1024, 65535),
            dst_port=r.choice((443, 80, 53, 22, 8443)),
            proto=r.choice((6, 6, 6, 17)),
            bytes=r.randrange(64, 1_500_000),
            packets=r.randrange(1, 1000),
            in_if=r.choice(self.interfaces),
            out_if=r.choice(self.interfaces),
        )

    def data(self, flows: list[Flow]) -> bytes:
        uptime = int((time.time() - self.boot) * 1000) & 0xFFFFFFFF
        records = b"".join(
            RECORD.pack(
                f.bytes,
                f.packets,
                f.proto,
                0,
                0x18 if f.proto == 6 else 0,
                f.src_port,
                int.from_bytes(socket.inet_aton(f.src), "big"),
                24,
                f.in_if,
                f.dst_port,
                int.from_bytes(socket.inet_aton(f.dst), "big"),
                24,
                f.out_if,
                int.from_bytes(socket.inet_aton("192.0.2.254"), "big"),
                64500,
                64501,
                uptime,
                max(0, uptime - 1000),
                4,
                0,
                64,
            )
            for f in flows
        )
        return self._header(len(flows)) + _flowset(TEMPLATE_ID, records)

    def datagram(self, count: int = RECORDS_PER_DATAGRAM) -> tuple[bytes, list[Flow]]:
        flows = [self.random_flow() for _ in range(count)]
        return self.data(flows), flows


class NetFlowV9Encoder(TemplateEncoder):
    """NetFlow v9 (RFC 3954): times relative to the exporter's uptime, sequence per datagram."""

    version = 9
    template_set_id = 0
    options_set_id = 1

    def _uptime(self, ms: int) -> int:
        return max(0, ms - int(self.boot * 1000)) & 0xFFFFFFFF

    def time_fields(self) -> tuple[tuple[int, int, Getter], ...]:
        return (
            (22, 4, lambda f, s, e: self._uptime(s)),  # FIRST_SWITCHED
            (21, 4, lambda f, s, e: self._uptime(e)),  # LAST_SWITCHED
        )

    def header(self, now: float, records: int, body_length: int) -> bytes:
        uptime = self._uptime(int(now * 1000))
        return HEADER.pack(9, records, uptime, int(now), self.sequence, self.domain)

    def options_template(self) -> bytes:
        # scope System (1) of 4 bytes; SAMPLING_INTERVAL (34), SAMPLING_ALGORITHM (35)
        return struct.pack("!HHHHHHHHH", ENCODER_OPTIONS_TEMPLATE_ID, 4, 8, 1, 4, 34, 4, 35, 1)

    def options_data(self) -> bytes:
        return struct.pack("!IIB", 0, self.sampling_rate, 2)  # 2: random sampling

    def count(self, data_records: int) -> None:
        self.sequence = (self.sequence + 1) & 0xFFFFFFFF


def flood(
    target: tuple[str, int], count: int, rate: float = 0.0, distinct: int = 64, source_port: int = 0
) -> int:
    """Send `count` data datagrams (templates first and every 1,000) as fast as possible or at `rate`/s.

    Datagrams are prepared in advance (`distinct` of them), then only the
    sequence number is patched: the sender costs little next to the receiver.
    """
    exporter = NetFlowV9Exporter()
    family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    if source_port:
        sock.bind(("", source_port))
    prepared = [bytearray(exporter.datagram()[0]) for _ in range(distinct)]
    templates = exporter.templates()
    sendto = sock.sendto
    sendto(templates, target)
    interval = 1.0 / rate if rate else 0.0
    start = time.perf_counter()
    seq = exporter.sequence
    for i in range(count):
        buf = prepared[i % distinct]
        seq += 1
        struct.pack_into("!I", buf, 12, seq)
        if i % 1000 == 999:
            sendto(templates, target)
        sendto(buf, target)
        if interval:
            delay = start + (i + 1) * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    sock.close()
    return count


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description="send NetFlow v9 datagrams (30 records, 1,464 bytes)"
    )
    parser.add_argument("target", help="host:port")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=0.0, help="datagrams per second (0: flood)")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    flood((host.strip("[]"), int(port)), args.count, args.rate)


if __name__ == "__main__":
    main()
