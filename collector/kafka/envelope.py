"""The Kafka envelope: what the inlet wraps around every raw datagram.

Layout (network byte order, 32 bytes, then the datagram unchanged):

    offset size field
    0      1    version            ENVELOPE_VERSION (the topic name carries it too: flows-v1)
    1      1    decoder kind       1 = netflow (v5/v9/IPFIX), 2 = sflow
    2      1    flags              bit 0: use source address as exporter address (sFlow)
                                   bit 1: receive time comes from the clock, not the kernel
    3      1    timestamp source   0 = udp (receive time), 1 = netflow-packet, 2 = netflow-first-switched
    4      8    receive time, ns since the epoch
    12     16   exporter address (IPv6, IPv4 mapped as ::ffff:a.b.c.d)
    28     2    exporter UDP port
    30     2    reserved (0)
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from dataclasses import dataclass

ENVELOPE_VERSION = 1
HEADER = struct.Struct("!BBBBQ16sHH")
HEADER_SIZE = HEADER.size  # 32

FLAG_USE_SRC_ADDR = 0x01
FLAG_CLOCK_TIMESTAMP = 0x02


class DecoderKind(enum.IntEnum):
    NETFLOW = 1
    SFLOW = 2


class TimestampSource(enum.IntEnum):
    UDP = 0
    NETFLOW_PACKET = 1
    NETFLOW_FIRST_SWITCHED = 2


class EnvelopeError(ValueError):
    """The Kafka record is not an envelope this version understands.

    `reason` is one of REASONS (a bounded metric label); the message says more.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# Why a record was refused: a null value (a tombstone), fewer bytes than the header,
# another envelope version, an unknown decoder kind or timestamp source.
REASONS = ("tombstone", "truncated", "version", "field")


def topic_name(base: str) -> str:
    """The topic carries the envelope version so an upgrade never feeds old bytes to a new decoder."""
    return f"{base}-v{ENVELOPE_VERSION}"


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
    kind: DecoderKind
    receive_time_ns: int
    exporter_address: bytes  # 16 bytes
    exporter_port: int
    payload: bytes
    flags: int = 0
    timestamp_source: TimestampSource = TimestampSource.UDP
    version: int = ENVELOPE_VERSION

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
        return (
            HEADER.pack(
                self.version,
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


def decode_envelope(record: bytes | None) -> Envelope:
    """Parse a Kafka record value; raises EnvelopeError on anything malformed.

    A record without a value (a tombstone, None) is malformed too: Kafka allows it,
    the inlet never writes one.
    """
    if record is None:
        raise EnvelopeError("tombstone", "record without a value (a Kafka tombstone)")
    if not isinstance(record, bytes | bytearray | memoryview):
        raise EnvelopeError("field", f"record value is a {type(record).__name__}, not bytes")
    if len(record) < HEADER_SIZE:
        raise EnvelopeError(
            "truncated",
            f"record of {len(record)} bytes is shorter than the {HEADER_SIZE}-byte header",
        )
    version, kind, flags, ts_source, recv_ns, addr, port, _ = HEADER.unpack_from(record)
    if version != ENVELOPE_VERSION:
        raise EnvelopeError("version", f"envelope version {version}, expected {ENVELOPE_VERSION}")
    try:
        kind_e = DecoderKind(kind)
        ts_e = TimestampSource(ts_source)
    except ValueError as exc:
        raise EnvelopeError("field", str(exc)) from None
    return Envelope(kind_e, recv_ns, addr, port, bytes(record[HEADER_SIZE:]), flags, ts_e, version)
