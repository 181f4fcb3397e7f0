"""What NetFlow v9 and IPFIX encoders share: templates of typical fields, records packed by them.

Each encoder announces three templates: IPv4 flows, IPv6 flows, and an options template whose
data carries the sampling rate. `templates()` is one datagram with all three plus the options
data (send it first, then again every so often: collectors forget templates); `data(records)`
packs records into as many datagrams as needed (`records_per_datagram` each, one family per
set). Only the header, the set identifiers, the options template and the timestamps differ
between the two versions.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

from collector.generator.flow import FlowRecord, packed

IPV4_TEMPLATE_ID = 256
IPV6_TEMPLATE_ID = 257
OPTIONS_TEMPLATE_ID = 258
RECORDS_PER_DATAGRAM = 24  # 24 IPv4 records of 56 bytes: 1,380 bytes, below a 1,500 MTU

_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}
_ADDRESSES = frozenset({8, 12, 15, 27, 28, 62})  # packed as bytes
Getter = Callable[[FlowRecord, int, int], Any]  # (record, start, end) -> value


def _fields(
    ipv6: bool, times: tuple[tuple[int, int, Getter], ...]
) -> list[tuple[int, int, Getter]]:
    """(information element, length, value) of one record, IPv4 or IPv6."""
    addr = 16 if ipv6 else 4
    return [
        (1, 8, lambda f, s, e: f.bytes),  # octetDeltaCount / IN_BYTES
        (2, 8, lambda f, s, e: f.packets),  # packetDeltaCount / IN_PKTS
        (4, 1, lambda f, s, e: f.proto),
        (5, 1, lambda f, s, e: f.tos),
        (6, 1, lambda f, s, e: f.tcp_flags),
        (7, 2, lambda f, s, e: f.src_port),
        (27 if ipv6 else 8, addr, lambda f, s, e: packed(f.src, ipv6)),
        (29 if ipv6 else 9, 1, lambda f, s, e: f.src_mask),
        (10, 4, lambda f, s, e: f.in_if),  # ingressInterface / INPUT_SNMP
        (11, 2, lambda f, s, e: f.dst_port),
        (28 if ipv6 else 12, addr, lambda f, s, e: packed(f.dst, ipv6)),
        (30 if ipv6 else 13, 1, lambda f, s, e: f.dst_mask),
        (14, 4, lambda f, s, e: f.out_if),  # egressInterface / OUTPUT_SNMP
        (62 if ipv6 else 15, addr, lambda f, s, e: packed(f.next_hop, ipv6)),
        (16, 4, lambda f, s, e: f.src_as),
        (17, 4, lambda f, s, e: f.dst_as),
        *times,
        (61, 1, lambda f, s, e: 0),  # flowDirection: ingress
        (89, 1, lambda f, s, e: 64),  # forwardingStatus: forwarded
    ]


def set_bytes(set_id: int, body: bytes) -> bytes:
    """A flowset/set: id, length, body padded to 4 bytes."""
    pad = (-len(body)) % 4
    return struct.pack("!HH", set_id, 4 + len(body) + pad) + body + b"\0" * pad


class TemplateEncoder:
    """Base of `NetFlowV9Encoder` and `IPFIXEncoder`; not used alone."""

    version = 0
    template_set_id = 0
    options_set_id = 0

    def __init__(
        self,
        domain: int = 1,
        sampling_rate: int = 1000,
        records_per_datagram: int = RECORDS_PER_DATAGRAM,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.domain = domain
        self.sampling_rate = sampling_rate
        self.records_per_datagram = records_per_datagram
        self.clock = clock
        self.boot = clock()
        self.sequence = 0
        self.layouts = {
            family: self._layout(_fields(family, self.time_fields())) for family in (False, True)
        }

    # What a version defines -------------------------------------------------------------------

    def time_fields(self) -> tuple[tuple[int, int, Getter], ...]:
        raise NotImplementedError

    def header(self, now: float, records: int, body_length: int) -> bytes:
        """`records`: template and data records in the datagram."""
        raise NotImplementedError

    def options_template(self) -> bytes:
        raise NotImplementedError

    def options_data(self) -> bytes:
        raise NotImplementedError

    def count(self, data_records: int) -> None:
        """Advance the sequence number after a datagram with `data_records` data records."""
        raise NotImplementedError

    # Shared -----------------------------------------------------------------------------------

    @staticmethod
    def _layout(fields: list[tuple[int, int, Getter]]) -> tuple[struct.Struct, list[Any], bytes]:
        fmt = struct.Struct(
            "!" + "".join(f"{n}s" if ie in _ADDRESSES else _FORMATS[n] for ie, n, _ in fields)
        )
        spec = b"".join(struct.pack("!HH", ie, length) for ie, length, _ in fields)
        return fmt, [get for _, _, get in fields], spec

    def templates(self) -> bytes:
        """The IPv4, IPv6 and options templates and the options data, in one datagram."""
        body = b"".join(
            struct.pack("!HH", tid, len(self.layouts[family][1])) + self.layouts[family][2]
            for tid, family in ((IPV4_TEMPLATE_ID, False), (IPV6_TEMPLATE_ID, True))
        )
        sets = (
            set_bytes(self.template_set_id, body)
            + set_bytes(self.options_set_id, self.options_template())
            + set_bytes(OPTIONS_TEMPLATE_ID, self.options_data())
        )
        return self._datagram(3, 1, sets)

    def _datagram(self, templates: int, data_records: int, sets: bytes) -> bytes:
        out = self.header(self.clock(), templates + data_records, len(sets)) + sets
        self.count(data_records)
        return out

    def data(self, records: Sequence[FlowRecord]) -> list[bytes]:
        """Datagrams carrying `records` (at most `records_per_datagram` each, in order per family)."""
        now_ms = int(self.clock() * 1000)
        out = []
        for ipv6, tid in ((False, IPV4_TEMPLATE_ID), (True, IPV6_TEMPLATE_ID)):
            fmt, getters, _ = self.layouts[ipv6]
            family = [r for r in records if r.ipv6 == ipv6]
            for i in range(0, len(family), self.records_per_datagram):
                chunk = family[i : i + self.records_per_datagram]
                body = b"".join(
                    fmt.pack(
                        *(
                            get(r, r.start_ms or now_ms - 1000, r.end_ms or now_ms)
                            for get in getters
                        )
                    )
                    for r in chunk
                )
                out.append(self._datagram(0, len(chunk), set_bytes(tid, body)))
        return out
