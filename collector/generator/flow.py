"""What the encoders of this package encode: one flow as a router's exporter would see it."""

from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """One flow record (NetFlow v9/IPFIX) or, for sFlow, one sampled packet.

    `bytes` and `packets` are what the exporter counted (before the collector multiplies them
    by the sampling rate). An sFlow encoder turns a record into one flow sample whose frame is
    `bytes // packets` long. Addresses are IPv4 or IPv6 text; both ends are of one family.
    """

    src: str
    dst: str
    src_port: int
    dst_port: int
    proto: int
    bytes: int
    packets: int
    in_if: int
    out_if: int
    src_as: int = 0
    dst_as: int = 0
    src_mask: int = 0
    dst_mask: int = 0
    next_hop: str = ""
    tcp_flags: int = 0
    tos: int = 0
    # Unix milliseconds; 0: the encoder's "now" (end) and one second before (start).
    start_ms: int = 0
    end_ms: int = 0

    @property
    def ipv6(self) -> bool:
        return ":" in self.src


def packed(address: str, ipv6: bool) -> bytes:
    """The address in network order (the unspecified address when empty)."""
    if not address:
        return b"\0" * (16 if ipv6 else 4)
    return socket.inet_pton(socket.AF_INET6 if ipv6 else socket.AF_INET, address)
