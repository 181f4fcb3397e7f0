"""sFlow raw headers beyond the captures: QinQ, MPLS, IPv6/UDP, fragments, sampled IPv4 records."""

from __future__ import annotations

import socket
import struct

from collector.outlet.decoder import decode_datagrams

MACS = bytes.fromhex("020000000002") + bytes.fromhex("020000000001")


def _sflow(*samples: bytes) -> bytes:
    head = struct.pack("!II4sIIII", 5, 1, bytes([192, 0, 2, 50]), 0, 1, 1000, len(samples))
    return head + b"".join(samples)


def _flow_sample(records: list[tuple[int, bytes]], inif: int = 3, outif: int = 4) -> bytes:
    body = struct.pack("!8I", 1, 7, 512, 1 << 20, 0, inif, outif, len(records))
    body += b"".join(struct.pack("!II", fmt, len(data)) + data for fmt, data in records)
    return struct.pack("!II", 1, len(body)) + body


def _raw(frame: bytes, frame_length: int = 1000) -> tuple[int, bytes]:
    padded = frame + b"\0" * (-len(frame) % 4)
    return 1, struct.pack("!IIII", 1, frame_length, 4, len(frame)) + padded


def _ipv6_udp(sport: int, dport: int) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8, 0)
    src = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    dst = socket.inet_pton(socket.AF_INET6, "2001:db8::2")
    return struct.pack("!IHBB", 0x6_0A_00000, len(udp), 17, 33) + src + dst + udp


def _ipv4(proto: int, l4: bytes, frag: int = 0) -> bytes:
    return struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0x28, 20 + len(l4), 1, frag, 61, proto, 0,
        bytes([198, 51, 100, 1]), bytes([203, 0, 113, 9]),
    ) + l4  # fmt: skip


def test_qinq_mpls_ipv6_udp() -> None:
    mpls = struct.pack("!II", (100 << 12) | 64, (200 << 12) | 0x100 | 64)
    frame = MACS + struct.pack("!HHHH", 0x88A8, 10, 0x8100, 20) + struct.pack("!H", 0x8847)
    frame += mpls + _ipv6_udp(5353, 53)
    (row,) = decode_datagrams([_sflow(_flow_sample([_raw(frame)]))]).to_rows()
    assert row["SrcVlan"] == 20 and row["MPLSLabels"] == [100, 200]  # QinQ: the inner tag
    assert (row["EType"], row["Proto"], row["SrcAddr"], row["DstAddr"]) == (
        0x86DD, 17, "2001:db8::1", "2001:db8::2",
    )  # fmt: skip
    assert (row["SrcPort"], row["DstPort"], row["IPTTL"], row["IPTos"]) == (5353, 53, 33, 0x0A)
    assert (row["SrcMAC"], row["DstMAC"]) == ("02:00:00:00:00:01", "02:00:00:00:00:02")
    assert (row["Bytes"], row["Packets"], row["SamplingRate"]) == (48, 1, 512)  # IPv6 length
    assert (row["InIf"], row["OutIf"], row["ExporterAddress"]) == (3, 4, "192.0.2.50")


def test_ipv4_tcp_flags_and_fragments() -> None:
    tcp = struct.pack("!HHIIBBHHH", 443, 40000, 0, 0, 0x50, 0x12, 0, 0, 0)
    first = MACS + b"\x08\x00" + _ipv4(6, tcp)
    later = MACS + b"\x08\x00" + _ipv4(6, tcp, frag=100)  # not the first fragment: no ports
    rows = decode_datagrams(
        [_sflow(_flow_sample([_raw(first)]), _flow_sample([_raw(later)]))]
    ).to_rows()
    assert [(r["SrcPort"], r["DstPort"], r["TCPFlags"]) for r in rows] == [
        (443, 40000, 0x12), (0, 0, 0),
    ]  # fmt: skip
    assert all(r["IPTos"] == 0x28 and r["IPTTL"] == 61 and r["Proto"] == 6 for r in rows)


def test_sampled_ipv4_record_without_raw_header() -> None:
    rec = struct.pack("!II4s4sIIII", 1400, 17, bytes([10, 1, 1, 1]), bytes([10, 2, 2, 2]),
                      1000, 2000, 0, 8)  # fmt: skip
    (row,) = decode_datagrams([_sflow(_flow_sample([(3, rec)]))]).to_rows()
    assert (row["SrcAddr"], row["DstAddr"], row["SrcPort"], row["DstPort"]) == (
        "10.1.1.1", "10.2.2.2", 1000, 2000,
    )  # fmt: skip
    assert (row["Bytes"], row["Proto"], row["EType"], row["IPTos"]) == (1400, 17, 0x0800, 8)


def test_counter_samples_are_skipped() -> None:
    counters = struct.pack("!II", 2, 12) + struct.pack("!III", 1, 2, 0)
    tcp = struct.pack("!HHIIBBHHH", 1, 2, 0, 0, 0x50, 0x10, 0, 0, 0)
    flow = _flow_sample([_raw(MACS + b"\x08\x00" + _ipv4(6, tcp))])
    assert decode_datagrams([_sflow(counters, flow)]).n == 1


def test_header_ends_at_its_stated_length_whatever_the_record_holds() -> None:
    """A raw header record whose header-size field says fewer bytes than the record carries:
    bytes past the stated size are not the packet's (no ports from them), in a flush where
    other headers are longer, shorter and at the 160-byte window's end."""
    tcp = struct.pack("!HHIIBBHHH", 443, 40000, 0, 0, 0x50, 0x12, 0, 0, 0)
    frame = MACS + b"\x08\x00" + _ipv4(6, tcp)  # 54 bytes: Ethernet, IPv4, TCP

    def cut_at(size: int, body: bytes) -> tuple[int, bytes]:
        padded = body + b"\0" * (-len(body) % 4)
        return 1, struct.pack("!IIII", 1, 1000, 4, size) + padded

    long_frame = frame + b"\x01" * 200  # longer than the window: its first 160 bytes count
    samples = [
        _flow_sample([cut_at(34, frame)]),  # Ethernet + IPv4 only: the TCP bytes do not count
        _flow_sample([cut_at(54, frame)]),
        _flow_sample([cut_at(12, frame)]),  # the MACs only: no ethertype
        _flow_sample([cut_at(len(long_frame), long_frame)]),
    ]
    rows = decode_datagrams([_sflow(*samples)] * 3).to_rows()  # (rows: sample by sample)
    got = [(r["EType"], r["SrcAddr"], r["SrcPort"], r["TCPFlags"], r["Bytes"]) for r in rows]
    want = [
        (0x0800, "198.51.100.1", 0, 0, 40),
        (0x0800, "198.51.100.1", 443, 0x12, 40),
        (0, "::", 0, 0, 1000),  # not IP: the frame length
        (0x0800, "198.51.100.1", 443, 0x12, 40),
    ]  # fmt: skip
    assert got == [row for row in want for _ in range(3)]
