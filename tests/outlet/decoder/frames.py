"""Hand-built packets and flow datagrams for the decoder rule tests, and tshark to check them."""

from __future__ import annotations

import socket
import struct
import subprocess
import tempfile
from pathlib import Path

import dpkt

MACS = bytes.fromhex("020000000002") + bytes.fromhex("020000000001")


def ip4(src: str, dst: str, proto: int, payload: bytes, ident: int = 1) -> bytes:
    return (
        struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0x10, 20 + len(payload), ident, 0, 64, proto, 0,
            socket.inet_aton(src), socket.inet_aton(dst),
        )
        + payload
    )  # fmt: skip


def ip6(src: str, dst: str, nh: int, payload: bytes, label: int = 0x12345) -> bytes:
    return (
        struct.pack("!IHBB", (6 << 28) | label, len(payload), nh, 60)
        + socket.inet_pton(socket.AF_INET6, src)
        + socket.inet_pton(socket.AF_INET6, dst)
        + payload
    )


def tcp(sport: int, dport: int, payload: bytes = b"x" * 20) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x18, 1000, 0, 0) + payload


def udp(sport: int, dport: int, payload: bytes = b"y" * 12) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def eth(etype: int, payload: bytes, vlans: tuple[int, ...] = (), macs: bytes = MACS) -> bytes:
    out = macs
    tpids = [0x88A8] * (len(vlans) - 1) + [0x8100] if len(vlans) > 1 else [0x8100] * len(vlans)
    for tpid, vid in zip(tpids, vlans, strict=True):
        out += struct.pack("!HH", tpid, vid)
    return out + struct.pack("!H", etype) + payload


def mpls(labels: list[int], payload: bytes) -> bytes:
    out = b""
    for i, label in enumerate(labels):
        bottom = 0x100 if i == len(labels) - 1 else 0
        out += struct.pack("!I", (label << 12) | bottom | 64)
    return out + payload


def gre(ptype: int, payload: bytes, key: int | None = None) -> bytes:
    if key is None:
        return struct.pack("!HH", 0, ptype) + payload
    return struct.pack("!HHI", 0x2000, ptype, key) + payload


def vxlan(vni: int, frame: bytes, sport: int = 50000) -> bytes:
    return udp(sport, 4789, struct.pack("!II", 0x08000000, vni << 8) + frame)


def srh(segments: list[str], nh: int, payload: bytes) -> bytes:
    """An IPv6 segment routing header (routing type 4)."""
    segs = b"".join(socket.inet_pton(socket.AF_INET6, s) for s in segments)
    head = struct.pack("!BBBBBBH", nh, 2 * len(segments), 4, len(segments) - 1,
                       len(segments) - 1, 0, 0)  # fmt: skip
    return head + segs + payload


# --- sFlow and IPFIX datagrams ----------------------------------------------------------------


def sflow(*samples: bytes, agent: str = "192.0.2.50") -> bytes:
    head = struct.pack("!II4sIIII", 5, 1, socket.inet_aton(agent), 0, 1, 1000, len(samples))
    return head + b"".join(samples)


def flow_sample(records: list[tuple[int, bytes]], inif: int = 3, outif: int = 4) -> bytes:
    body = struct.pack("!8I", 1, 7, 512, 1 << 20, 0, inif, outif, len(records))
    body += b"".join(struct.pack("!II", fmt, len(data)) + data for fmt, data in records)
    return struct.pack("!II", 1, len(body)) + body


def expanded_sample(records: list[tuple[int, bytes]], inif: int = 3, outif: int = 4) -> bytes:
    body = struct.pack("!11I", 1, 0, 7, 512, 1 << 20, 0, 0, inif, 0, outif, len(records))
    body += b"".join(struct.pack("!II", fmt, len(data)) + data for fmt, data in records)
    return struct.pack("!II", 3, len(body)) + body


def raw_header(frame: bytes, protocol: int = 1) -> tuple[int, bytes]:
    padded = frame + b"\0" * (-len(frame) % 4)
    length = len(frame) + 4  # the frame length counts the FCS
    return 1, struct.pack("!IIII", protocol, length, 4, len(frame)) + padded


def switch(src_vlan: int, dst_vlan: int) -> tuple[int, bytes]:
    return 1001, struct.pack("!IIII", src_vlan, 0, dst_vlan, 0)


def gateway(own_as: int, src_as: int, path: list[int]) -> tuple[int, bytes]:
    body = struct.pack("!I4s", 1, socket.inet_aton("192.0.2.254"))
    body += struct.pack("!III", own_as, src_as, 0)
    body += struct.pack("!I", 1 if path else 0)
    if path:
        body += struct.pack("!II", 2, len(path)) + struct.pack(f"!{len(path)}I", *path)
    body += struct.pack("!II", 0, 0)  # no communities, local preference
    return 1003, body


def ipfix(sets: bytes, domain: int = 1) -> bytes:
    return struct.pack("!HHIII", 10, 16 + len(sets), 1_700_000_000, 1, domain) + sets


def ipfix_set(set_id: int, body: bytes) -> bytes:
    return struct.pack("!HH", set_id, 4 + len(body)) + body


def ipfix_template(tid: int, fields: list[tuple[int, int] | tuple[int, int, int]]) -> bytes:
    spec = b""
    for f in fields:
        ie, length, pen = (*f, 0) if len(f) == 2 else f  # type: ignore[misc]
        spec += struct.pack("!HH", ie | (0x8000 if pen else 0), length)
        spec += struct.pack("!I", pen) if pen else b""
    return ipfix_set(2, struct.pack("!HH", tid, len(fields)) + spec)


def varlen(data: bytes) -> bytes:
    return (
        bytes([len(data)]) if len(data) < 255 else b"\xff" + struct.pack("!H", len(data))
    ) + data


# --- tshark -----------------------------------------------------------------------------------


def tshark_fields(frames: list[bytes], fields: list[str]) -> list[dict[str, list[str]]]:
    """Each frame through tshark: every occurrence of each field (outer first)."""
    path = Path(tempfile.mkdtemp()) / "frames.pcap"
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_EN10MB)
        for i, frame in enumerate(frames):
            writer.writepkt(frame, ts=1_700_000_000 + i)
    cmd = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=\t"]
    cmd += ["-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        values = line.split("\t")
        rows.append({f: [v for v in values[i].split("|") if v] for i, f in enumerate(fields)})
    return rows
