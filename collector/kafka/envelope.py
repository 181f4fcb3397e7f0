"""The Kafka envelope: what the inlet wraps around the raw datagrams it produces to Kafka.

The inlet writes version 2 to `<kafka.topic>-v2`; version 1 (one datagram per message,
`<kafka.topic>-v1`) is what earlier inlets wrote, still read by the outlet so that an
upgrade drains the old topic (README, "Upgrading to envelope v2"). The first byte of
every message is its version. Network byte order throughout.

Version 2: one Kafka message holds the datagrams one inlet worker read from one exporter
(one source address) in one receive call, at most MAX_MESSAGE_BYTES, in arrival order.
The Kafka key is the exporter address, as in v1, so that an exporter's templates reach
an outlet in order with their data. A 24-byte message header:

    offset size field
    0      1    version            2 (the topic name carries it too: flows-v2)
    1      1    decoder kind       1 = netflow (v5/v9/IPFIX), 2 = sflow
    2      1    flags              bit 0: use source address as exporter address (sFlow)
                                   bit 1: receive times come from the clock, not the kernel
                                   bit 2: the datagrams are LZ4-compressed (below)
    3      1    timestamp source   0 = udp (receive time), 1 = netflow-packet, 2 = netflow-first-switched
    4      1    decapsulation      0 = none, 1 = vxlan, 2 = gre, 3 = ipip, 4 = srv6 (the inlet
                                   input's `decapsulation`; outlets that do not decapsulate
                                   read it as 0)
    5      1    reserved (0)
    6      2    datagram count     at least 1
    8      16   exporter address   the datagrams' UDP source (IPv6, IPv4 mapped as ::ffff:a.b.c.d)

then `count` datagrams, each a 12-byte header followed by the datagram unchanged:

    0      8    receive time, ns since the epoch
    8      2    datagram length in bytes (the inlet's max-datagram-size is at most 65535)
    10     2    exporter UDP port (the datagram's source port)

With flag bit 2 set, everything after the 24-byte header (the datagram headers and the
datagrams, at most MAX_MESSAGE_BYTES - 24 bytes) is one standard LZ4 frame (lz4frame
format, as `lz4 -c` writes; written with LZ4's "acceleration", the inlet's
`lz4-acceleration`, which changes the speed and the ratio, not the format). The header
stays plain so that key, count and exporter are readable without decompressing. The
inlet compresses that way when `kafka.compression` is lz4 and sends the message with the
Kafka codec none: cheaper than the Kafka client's LZ4 (bench/README.md, "## inlet").
A frame that does not decompress is a corrupt message (reason "compression"), one that
decompresses past MAX_MESSAGE_BYTES is refused unread (reason "oversized").

A message whose bytes end inside a datagram, or go on past the last one, is damaged:
the datagrams before the damage are kept (EnvelopeError.kept) and the message is
counted as corrupt.

Version 1 (32 bytes, then the one datagram unchanged):

    0      1    version            1 (flows-v1)
    1      1    decoder kind       as in v2
    2      1    flags              as in v2
    3      1    timestamp source   as in v2
    4      8    receive time, ns since the epoch
    12     16   exporter address
    28     2    exporter UDP port
    30     2    reserved (0)
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import lz4.frame

ENVELOPE_VERSION = 2  # what the inlet writes
VERSIONS = (2, 1)  # what the outlet reads, newest first
HEADER = struct.Struct("!BBBBQ16sHH")  # version 1
HEADER_SIZE = HEADER.size  # 32
MESSAGE_HEADER = struct.Struct("!BBBBBBH16s")  # version 2, before the datagrams
MESSAGE_HEADER_SIZE = MESSAGE_HEADER.size  # 24
DATAGRAM_HEADER = struct.Struct("!QHH")  # version 2, in front of each datagram
DATAGRAM_HEADER_SIZE = DATAGRAM_HEADER.size  # 12
# Largest v2 message the inlet writes, header included: a receive call of 64 datagrams of
# 1,500 bytes fits one; three fit the producer's batch.size (512 KiB) with Kafka's framing.
MAX_MESSAGE_BYTES = 128 * 1024

FLAG_USE_SRC_ADDR = 0x01
FLAG_CLOCK_TIMESTAMP = 0x02
FLAG_LZ4 = 0x04  # v2: the datagrams (all after the message header) are one LZ4 frame
MAX_BODY_BYTES = MAX_MESSAGE_BYTES - MESSAGE_HEADER_SIZE  # the datagrams of one message


class DecoderKind(enum.IntEnum):
    NETFLOW = 1
    SFLOW = 2


class TimestampSource(enum.IntEnum):
    UDP = 0
    NETFLOW_PACKET = 1
    NETFLOW_FIRST_SWITCHED = 2


class Decapsulation(enum.IntEnum):
    """What the outlet's decoder strips from sampled packets before reading them (v2 byte 4)."""

    NONE = 0
    VXLAN = 1
    GRE = 2
    IPIP = 3
    SRV6 = 4


class EnvelopeError(ValueError):
    """The Kafka record is not an envelope this version understands.

    `reason` is one of REASONS (a bounded metric label); the message says more. `kept`
    holds the datagrams of a damaged v2 message that came before the damage.
    """

    def __init__(self, reason: str, message: str, kept: Sequence[Envelope] = ()) -> None:
        super().__init__(message)
        self.reason = reason
        self.kept = list(kept)


# Why a record was refused: a null value (a tombstone), fewer bytes than the header,
# another envelope version, an unknown decoder kind or timestamp source, an LZ4 frame
# that does not decompress, one that decompresses past MAX_MESSAGE_BYTES.
REASONS = ("tombstone", "truncated", "version", "field", "compression", "oversized")


def topic_name(base: str, version: int = ENVELOPE_VERSION) -> str:
    """The topic carries the envelope version so an upgrade never feeds old bytes to a new decoder."""
    return f"{base}-v{version}"


def address_to_bytes(address: str) -> bytes:
    """16-byte form of an address, IPv4 mapped into IPv6."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 4:
        return b"\x00" * 10 + b"\xff\xff" + ip.packed
    return ip.packed


def bytes_to_address(raw: bytes) -> str:
    """Text form of a 16-byte address; mapped IPv4 shown as a.b.c.d."""
    ip = ipaddress.IPv6Address(raw)
    mapped = ip.ipv4_mapped
    return str(mapped) if mapped is not None else str(ip)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One datagram and what the inlet knew about it (from a v1 message, or one of a v2's)."""

    kind: DecoderKind
    receive_time_ns: int
    exporter_address: bytes  # 16 bytes
    exporter_port: int
    payload: bytes
    flags: int = 0
    timestamp_source: TimestampSource = TimestampSource.UDP
    version: int = 1  # the envelope version it came in; encode() writes v1
    decapsulation: Decapsulation = Decapsulation.NONE

    @property
    def use_src_addr(self) -> bool:
        return bool(self.flags & FLAG_USE_SRC_ADDR)

    @property
    def clock_timestamp(self) -> bool:
        return bool(self.flags & FLAG_CLOCK_TIMESTAMP)

    @property
    def exporter(self) -> str:
        return bytes_to_address(self.exporter_address)

    def encode(self) -> bytes:
        """The v1 message of this datagram alone (the v1 backlog of tests and benchmarks)."""
        return (
            HEADER.pack(
                1,
                int(self.kind),
                self.flags,
                int(self.timestamp_source),
                self.receive_time_ns,
                self.exporter_address,
                self.exporter_port,
                0,
            )
            + self.payload
        )


def lz4_compressor(acceleration: int) -> Callable[[bytes], bytes]:
    """What compresses the datagrams of a message (flag bit 2): a standard LZ4 frame.

    `acceleration` 1 is LZ4's default speed (what Kafka's lz4 codec uses); each step
    above trades some ratio for speed (LZ4F's negative compression levels).
    """
    return partial(lz4.frame.compress, compression_level=1 - acceleration)


def encode_message(envelopes: Sequence[Envelope], lz4_acceleration: int = 0) -> bytes:
    """The v2 message of datagrams of one exporter (what the inlet's receiver builds in place).

    They must share the exporter address, decoder kind, flags, timestamp source and
    decapsulation; the message header takes them from the first. `lz4_acceleration`
    above 0: the datagrams are LZ4-compressed (flag bit 2).
    """
    first = envelopes[0]
    parts = []
    for env in envelopes:
        if env.exporter_address != first.exporter_address:
            raise ValueError("a v2 message holds the datagrams of one exporter address")
        parts.append(DATAGRAM_HEADER.pack(env.receive_time_ns, len(env.payload), env.exporter_port))
        parts.append(env.payload)
    body = b"".join(parts)
    flags = first.flags & ~FLAG_LZ4
    if lz4_acceleration:
        body = lz4_compressor(lz4_acceleration)(body)
        flags |= FLAG_LZ4
    header = MESSAGE_HEADER.pack(
        2,
        int(first.kind),
        flags,
        int(first.timestamp_source),
        int(first.decapsulation),
        0,
        len(envelopes),
        first.exporter_address,
    )
    return header + body


def _unpack_header(
    record: object, header: struct.Struct, versions: tuple[int, ...]
) -> tuple[Any, ...]:
    """The header's fields; EnvelopeError unless the record holds one of these versions."""
    if record is None:
        raise EnvelopeError("tombstone", "record without a value (a Kafka tombstone)")
    if not isinstance(record, bytes | bytearray | memoryview):
        raise EnvelopeError("field", f"record value is a {type(record).__name__}, not bytes")
    if len(record) < header.size:
        raise EnvelopeError(
            "truncated",
            f"record of {len(record)} bytes is shorter than the {header.size}-byte header",
        )
    fields = header.unpack_from(record)
    if fields[0] not in versions:
        expected = " or ".join(map(str, versions))
        raise EnvelopeError("version", f"envelope version {fields[0]}, expected {expected}")
    return fields


def _enums(kind: int, ts_source: int, decap: int = 0) -> tuple[Any, ...]:
    try:
        return DecoderKind(kind), TimestampSource(ts_source), Decapsulation(decap)
    except ValueError as exc:
        raise EnvelopeError("field", str(exc)) from None


def decode_envelope(record: bytes | None) -> Envelope:
    """Parse a v1 Kafka record value; raises EnvelopeError on anything malformed.

    A record without a value (a tombstone, None) is malformed too: Kafka allows it,
    the inlet never writes one.
    """
    version, kind, flags, ts_source, recv_ns, addr, port, _ = _unpack_header(record, HEADER, (1,))
    kind_e, ts_e, _ = _enums(kind, ts_source)
    assert record is not None
    return Envelope(kind_e, recv_ns, addr, port, bytes(record[HEADER_SIZE:]), flags, ts_e, version)


def decode_message(record: bytes | None) -> list[Envelope]:
    """Every datagram of a Kafka record value, v2 or v1. Hot path of the outlet's Kafka input.

    Raises EnvelopeError on anything malformed; for a damaged v2 message, the datagrams
    before the damage are in the error's `kept`.
    """
    if record and record[0] == 1:
        return [decode_envelope(record)]
    fields = _unpack_header(record, MESSAGE_HEADER, VERSIONS)
    _, kind, flags, ts_source, decap, _, count, addr = fields
    kind_e, ts_e, decap_e = _enums(kind, ts_source, decap)
    assert record is not None
    if count == 0:
        raise EnvelopeError("field", "v2 message with no datagram")
    pos = MESSAGE_HEADER_SIZE
    if flags & FLAG_LZ4:
        record = _decompress(memoryview(record)[MESSAGE_HEADER_SIZE:])
        pos = 0
        flags &= ~FLAG_LZ4  # of the message, not of its datagrams
    view = memoryview(record)
    size = len(record)
    unpack = DATAGRAM_HEADER.unpack_from
    out: list[Envelope] = []
    for _ in range(count):
        if pos + DATAGRAM_HEADER_SIZE > size:
            raise EnvelopeError(
                "truncated",
                f"v2 message ends after {len(out)} of its {count} datagrams",
                out,
            )
        recv_ns, length, port = unpack(record, pos)
        start = pos + DATAGRAM_HEADER_SIZE
        pos = start + length
        if pos > size:
            raise EnvelopeError(
                "truncated",
                f"v2 message ends inside datagram {len(out) + 1} of {count}",
                out,
            )
        out.append(
            Envelope(kind_e, recv_ns, addr, port, bytes(view[start:pos]), flags, ts_e, 2, decap_e)
        )
    if pos != size:
        raise EnvelopeError(
            "field", f"v2 message has {size - pos} bytes after its {count} datagrams", out
        )
    return out


def _decompress(frame: memoryview) -> bytes:
    """The datagrams of a compressed v2 message; at most MAX_BODY_BYTES are ever written
    (a small frame may claim gigabytes: it is refused once past the limit)."""
    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        body = decompressor.decompress(frame, max_length=MAX_BODY_BYTES + 1)
    except RuntimeError as exc:  # python-lz4's error for a frame LZ4 refuses
        raise EnvelopeError(
            "compression", f"v2 message whose LZ4 frame does not decompress ({exc})"
        ) from None
    if len(body) > MAX_BODY_BYTES or not (decompressor.eof or decompressor.needs_input):
        raise EnvelopeError(
            "oversized",
            f"v2 message whose LZ4 frame decompresses past {MAX_MESSAGE_BYTES} bytes "
            "(the largest message an inlet writes): refused unread",
        )
    if not decompressor.eof:
        raise EnvelopeError("compression", "v2 message whose LZ4 frame is cut short")
    if decompressor.unused_data:
        raise EnvelopeError(
            "compression",
            f"v2 message has {len(decompressor.unused_data)} bytes after its LZ4 frame",
        )
    return body
