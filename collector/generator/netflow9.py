"""NetFlow v9 for the demo exporter, the tests and the benchmarks.

`NetFlowV9Exporter` builds realistic datagrams (a template, an options template carrying
the sampling interval, data flowsets of 30 records = 1,464 bytes). `flood` (and
`python -m collector.generator.netflow9`) prepares a pool of them once, then only patches
the header's sequence number and timestamps and hands them to the kernel 64 at a time
with sendmmsg(2), so a single process can flood an inlet faster than the inlet reads.
`NetFlowV9Encoder` encodes any `FlowRecord` (IPv4 and IPv6, 4-byte AS numbers), for
`flowweir demo-exporter`.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import os
import random
import socket
import struct
import time
from dataclasses import dataclass

import numpy as np

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


TEMPLATES_EVERY = 1_000  # data datagrams between two templates datagrams (collectors forget)
SEND_BATCH = 64  # messages per sendmmsg(2) call (a message: one datagram, or a GSO train)
MAX_SEGMENTS = 64  # UDP_MAX_SEGMENTS: datagrams in one GSO train
MAX_UDP_PAYLOAD = 65_507  # a train is one UDP datagram until the kernel cuts it
SOL_UDP, UDP_SEGMENT = 17, 103  # linux/udp.h
PACING_SLICE = 0.001  # paced: a batch holds at most this many seconds of the rate


class _IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.POINTER(_IOVec)),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    """struct mmsghdr: a struct msghdr and the kernel's count of bytes sent."""

    _fields_ = [("hdr", _MsgHdr), ("len", ctypes.c_uint)]


_libc = ctypes.CDLL(None, use_errno=True)
_sendmmsg = getattr(_libc, "sendmmsg", None)  # Linux (and the BSDs); absent: sendto only
if _sendmmsg is not None:
    _sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    _sendmmsg.restype = ctypes.c_int


def _sockaddr(family: int, address: tuple) -> bytes:
    """struct sockaddr_in / sockaddr_in6 of a resolved address (for msg_name)."""
    port = address[1].to_bytes(2, "big")
    if family == socket.AF_INET:
        return struct.pack("=H", family) + port + socket.inet_pton(family, address[0]) + bytes(8)
    flowinfo, scope = address[2], address[3]
    return (
        struct.pack("=H", family)
        + port
        + flowinfo.to_bytes(4, "big")
        + socket.inet_pton(family, address[0])
        + struct.pack("=I", scope)
    )


@dataclass(frozen=True, slots=True)
class FloodReport:
    """What one flood sent, and what it cost the sending process."""

    datagrams: int  # data datagrams
    templates: int  # templates datagrams (first, then every TEMPLATES_EVERY data datagrams)
    seconds: float  # from the first send to the end of the last (and its pacing sleep)
    cpu_seconds: float  # the sending process's CPU (user + system) meanwhile

    @property
    def rate(self) -> float:
        return self.datagrams / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        us = self.cpu_seconds / self.datagrams * 1e6 if self.datagrams else 0.0
        return (
            f"sent {self.datagrams} datagrams + {self.templates} templates in "
            f"{self.seconds:.4f} s: {self.rate:.0f} datagrams/s, CPU {self.cpu_seconds:.4f} s "
            f"({us:.2f} us/datagram)"
        )


class NetFlowV9Flood:
    """A pool of prepared data datagrams in one buffer, sent again and again.

    Before each send only the header fields change in place (sequence number per datagram,
    system uptime and unix seconds per batch); the records stay as prepared (`distinct`
    different datagrams, repeated). `method` "sendmmsg" hands the kernel up to SEND_BATCH
    messages per system call; "sendto" one datagram per call (the former generator, kept to
    compare and where sendmmsg is missing). `segments` > 1 makes each sendmmsg message a
    train of that many datagrams that the kernel cuts into separate datagrams (UDP GSO,
    UDP_SEGMENT, Linux 4.18+): the receiver reads ordinary datagrams, the sender pays the
    IP and device path once per train. Made for loopback; over a real interface the kernel
    cuts the train in software or the card does.
    """

    def __init__(
        self,
        target: tuple[str, int],
        distinct: int = 64,
        source_port: int = 0,
        method: str = "sendmmsg",
        segments: int = 1,
    ) -> None:
        if method not in ("sendmmsg", "sendto"):
            raise ValueError(f"method {method!r}: expected sendmmsg or sendto")
        self.method = method if _sendmmsg is not None else "sendto"
        family, _, _, _, address = socket.getaddrinfo(target[0], target[1], type=socket.SOCK_DGRAM)[
            0
        ]
        self.target = address
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        if source_port:
            self.sock.bind(("", source_port))
        exporter = NetFlowV9Exporter()
        self.boot = exporter.boot
        self.templates = bytearray(exporter.templates())
        prepared = [exporter.datagram()[0] for _ in range(max(1, distinct))]
        self.sequence = exporter.sequence
        size = len(prepared[0])  # all alike: RECORDS_PER_DATAGRAM records of one template
        self.segments = 1 if self.method == "sendto" else segments
        if not 1 <= self.segments <= min(MAX_SEGMENTS, MAX_UDP_PAYLOAD // size):
            raise ValueError(
                f"segments {segments}: expected 1 to "
                f"{min(MAX_SEGMENTS, MAX_UDP_PAYLOAD // size)} datagrams of {size} bytes a train"
            )
        if self.segments > 1:
            self.sock.setsockopt(SOL_UDP, UDP_SEGMENT, size)
        # Rows: enough that one flat-out call never sends a row twice, whole trains.
        trains = max(SEND_BATCH, -(-len(prepared) // self.segments))
        rows = trains * self.segments
        pool = np.frombuffer(b"".join(prepared), dtype=np.uint8).reshape(-1, size)
        self.pool = np.resize(pool, (rows, size))  # the prepared datagrams, repeated
        self.size = size
        # The header fields of every pooled datagram, as strided big-endian views.
        self._uptime, self._secs, self._seq = (
            np.ndarray((rows,), dtype=">u4", buffer=self.pool, offset=off, strides=(size,))
            for off in (4, 8, 12)
        )
        self._steps = np.arange(1, rows + 1, dtype=np.uint64)
        # One mmsghdr per train of `segments` pooled rows, all to the target: a batch is a
        # slice of them (its last train shortened in place when the batch ends mid-train).
        name = _sockaddr(family, address)
        self._name = ctypes.create_string_buffer(name, len(name))
        self._iov = (_IOVec * trains)()
        self._hdrs = (_MMsgHdr * trains)()
        base, train_bytes = self.pool.ctypes.data, self.segments * size
        for i in range(trains):
            self._iov[i].base, self._iov[i].len = base + i * train_bytes, train_bytes
            hdr = self._hdrs[i].hdr
            hdr.name, hdr.namelen = ctypes.addressof(self._name), len(name)
            hdr.iov, hdr.iovlen = ctypes.pointer(self._iov[i]), 1
        self._hdrs_addr = ctypes.addressof(self._hdrs)

    def close(self) -> None:
        self.sock.close()

    def _patch(self, first: int, n: int) -> None:
        """Give pooled datagrams [first, first + n) the next sequence numbers and the time."""
        end = first + n
        self._seq[first:end] = (self._steps[:n] + self.sequence) & 0xFFFFFFFF
        self.sequence = (self.sequence + n) & 0xFFFFFFFF
        now = time.time()
        self._uptime[first:end] = int((now - self.boot) * 1000) & 0xFFFFFFFF
        self._secs[first:end] = int(now)

    def _send_templates(self) -> None:
        self.sequence = (self.sequence + 1) & 0xFFFFFFFF
        struct.pack_into("!I", self.templates, 12, self.sequence)
        self.sock.sendto(self.templates, self.target)

    def _sendmmsg(self, first: int, n: int) -> None:
        """Send pooled rows [first, first + n); `first` starts a train."""
        train, messages = first // self.segments, -(-n // self.segments)
        short, last = n % self.segments, train + messages - 1  # rows in a shorter last train
        if short:
            self._iov[last].len = short * self.size
        fd, step = self.sock.fileno(), ctypes.sizeof(_MMsgHdr)
        addr = self._hdrs_addr + train * step
        try:
            while messages:
                done = _sendmmsg(fd, addr, messages, 0)  # type: ignore[misc]
                if done < 0:
                    err = ctypes.get_errno()
                    if err == errno.EINTR:
                        continue
                    raise OSError(err, f"sendmmsg to {self.target[0]}: {os.strerror(err)}")
                messages -= done
                addr += done * step
        finally:
            if short:
                self._iov[last].len = self.segments * self.size

    def run(self, count: int, rate: float = 0.0) -> FloodReport:
        """Send `count` data datagrams (templates first and every TEMPLATES_EVERY), flat out
        when `rate` is 0, else paced at `rate`/s: after each batch, sleep until the next is
        due (a paced batch holds at most PACING_SLICE seconds of the rate)."""
        if self.method == "sendto":
            return self._run_sendto(count, rate)
        k = self.segments
        most = SEND_BATCH * k
        batch = most if not rate else max(1, min(most, int(rate * PACING_SLICE)))
        interval = 1.0 / rate if rate else 0.0
        rows = len(self.pool)
        cpu0, start = time.process_time(), time.perf_counter()
        sent = position = 0
        templates, next_templates = 1, TEMPLATES_EVERY
        self._send_templates()
        while sent < count:  # hot path: one iteration per batch
            if sent == next_templates:
                self._send_templates()
                templates += 1
                next_templates += TEMPLATES_EVERY
            n = min(batch, count - sent, rows - position, next_templates - sent)
            self._patch(position, n)
            self._sendmmsg(position, n)
            sent += n
            position = (position + -(-n // k) * k) % rows  # the next batch starts a train
            if interval:
                delay = start + sent * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
        return FloodReport(sent, templates, time.perf_counter() - start, time.process_time() - cpu0)

    def _run_sendto(self, count: int, rate: float) -> FloodReport:
        """The former generator: one sendto per datagram, paced per datagram."""
        rows = [memoryview(row) for row in self.pool]  # type: ignore[arg-type]
        sendto, target, pack_into = self.sock.sendto, self.target, struct.pack_into
        interval = 1.0 / rate if rate else 0.0
        cpu0, start = time.process_time(), time.perf_counter()
        templates = 1
        self._send_templates()
        for i in range(count):  # hot path: one iteration per datagram
            if i and i % TEMPLATES_EVERY == 0:
                self._send_templates()
                templates += 1
            buf = rows[i % len(rows)]
            self.sequence = (self.sequence + 1) & 0xFFFFFFFF
            pack_into("!I", buf, 12, self.sequence)
            sendto(buf, target)
            if interval:
                delay = start + (i + 1) * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
        return FloodReport(
            count, templates, time.perf_counter() - start, time.process_time() - cpu0
        )


def flood(
    target: tuple[str, int],
    count: int,
    rate: float = 0.0,
    distinct: int = 64,
    source_port: int = 0,
    method: str = "sendmmsg",
    segments: int = 1,
) -> int:
    """Send `count` data datagrams (templates first and every 1,000) as fast as possible or at
    `rate`/s, from `distinct` prepared datagrams (see `NetFlowV9Flood`); returns `count`."""
    sender = NetFlowV9Flood(target, distinct, source_port, method, segments)
    try:
        sender.run(count, rate)
    finally:
        sender.close()
    return count


def add_sender_options(parser: argparse.ArgumentParser, segments: int) -> None:
    """--method and --segments, for this generator's command line and the benchmarks'."""
    parser.add_argument(
        "--method",
        choices=("sendmmsg", "sendto"),
        default="sendmmsg",
        help="sendmmsg: 64 messages per system call; sendto: one datagram (the former generator)",
    )
    parser.add_argument(
        "--segments",
        type=int,
        default=segments,
        help="sendmmsg: datagrams per UDP GSO train, cut by the kernel (1: off; up to 44, "
        f"for loopback floods; default {segments})",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description="send NetFlow v9 datagrams (30 records, 1,464 bytes)"
    )
    parser.add_argument("target", help="host:port")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=0.0, help="datagrams per second (0: flood)")
    add_sender_options(parser, segments=1)
    parser.add_argument(
        "--report", action="store_true", help="print what was sent, how fast, at what CPU"
    )
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    if not host or not port.isdigit() or args.count < 0 or args.rate < 0:
        raise SystemExit(
            f"generator: target {args.target!r}, count {args.count}, rate {args.rate}: "
            "expected HOST:PORT, a count >= 0 and a rate >= 0"
        )
    try:
        sender = NetFlowV9Flood(
            (host.strip("[]"), int(port)), method=args.method, segments=args.segments
        )
    except ValueError as e:
        raise SystemExit(f"generator: {e}") from None
    except OSError as e:
        raise SystemExit(f"generator: cannot send to {args.target}: {e}") from None
    try:
        report = sender.run(args.count, args.rate)
    except OSError as e:
        raise SystemExit(f"generator: {e}") from None
    finally:
        sender.close()
    if args.report:
        print(report.line(), flush=True)


if __name__ == "__main__":
    main()
