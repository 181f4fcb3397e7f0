"""UDP datagrams from pcap files, as the inlet would have wrapped them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import dpkt

from collector.kafka.envelope import Envelope, TimestampSource
from collector.outlet.decoder.decoder import make_envelope, sniff_kind


class PcapError(ValueError):
    """A capture file that cannot be read."""


def read_udp(path: str | Path) -> Iterator[tuple[float, str, int, int, bytes]]:
    """(timestamp, source address, source port, destination port, payload) per UDP datagram."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, the reader is lazy
    except OSError as exc:
        raise PcapError(f"{path}: {exc.strerror}") from None
    with handle:
        try:
            reader = dpkt.pcap.UniversalReader(handle)
        except (ValueError, dpkt.dpkt.Error) as exc:
            raise PcapError(f"{path}: not a pcap or pcapng file ({exc})") from None
        linktype = reader.datalink()
        for ts, frame in reader:
            ip = _ip_layer(linktype, frame)
            if ip is None or not isinstance(ip.data, dpkt.udp.UDP):
                continue
            family = socket.AF_INET6 if isinstance(ip, dpkt.ip6.IP6) else socket.AF_INET
            src = socket.inet_ntop(family, ip.src)
            udp = ip.data
            yield float(ts), src, udp.sport, udp.dport, bytes(udp.data)


def _ip_layer(linktype: int, frame: bytes) -> dpkt.Packet | None:
    try:
        if linktype == dpkt.pcap.DLT_EN10MB:
            pkt = dpkt.ethernet.Ethernet(frame).data
        elif linktype == dpkt.pcap.DLT_LINUX_SLL:
            pkt = dpkt.sll.SLL(frame).data
        elif linktype in (dpkt.pcap.DLT_RAW, 101, 12):
            pkt = dpkt.ip.IP(frame) if frame[0] >> 4 == 4 else dpkt.ip6.IP6(frame)
        elif linktype == dpkt.pcap.DLT_NULL:
            pkt = dpkt.loopback.Loopback(frame).data
        else:
            return None
    except (dpkt.dpkt.Error, IndexError, ValueError):
        return None
    return pkt if isinstance(pkt, dpkt.ip.IP | dpkt.ip6.IP6) else None


def envelopes(
    path: str | Path, timestamp_source: TimestampSource = TimestampSource.UDP
) -> Iterator[Envelope]:
    """One envelope per flow datagram in the capture (others skipped), exporter = source."""
    for ts, src, sport, _, payload in read_udp(path):
        kind = sniff_kind(payload)
        if kind is None:
            continue
        yield make_envelope(
            payload, src, int(ts * 1e9), kind, timestamp_source=timestamp_source, port=sport
        )
