"""Helpers for the real-exporter tests: a generated pcap and a UDP sink."""

from __future__ import annotations

import random
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dpkt


@dataclass
class Traffic:
    packets: int = 0
    ip_bytes: int = 0
    frame_bytes: int = 0
    flows: dict[tuple[str, str, int, int, int], list[int]] = field(default_factory=dict)
    frames: dict[tuple[str, str, int, int, int], list[int]] = field(default_factory=dict)


def write_pcap(
    path: Path, flows: int = 40, seed: int = 7, ipv6: bool = False, replies: bool = False
) -> Traffic:
    """TCP and UDP flows between a few hosts (with `replies`, answers in the other direction);
    returns what went in (IP bytes and packets per 5-tuple)."""
    rnd = random.Random(seed)
    traffic = Traffic()
    ts = time.time() - 30
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_EN10MB)
        for i in range(flows):
            proto = 6 if i % 2 == 0 else 17
            v6 = ipv6 and i % 3 == 0
            src, dst = (f"2001:db8::{i + 1:x}", f"2001:db8:1::{i + 1:x}") if v6 else (
                f"10.1.{i // 200}.{i % 200 + 1}", f"192.168.{i % 7}.{i % 250 + 1}"
            )  # fmt: skip
            sport, dport = 1024 + i, (443 if proto == 6 else 53)
            for _ in range(rnd.randrange(1, 12)):
                ts += 0.001
                _packet(writer, traffic, rnd, ts, (src, dst, sport, dport, proto))
                if replies and rnd.random() < 0.7:
                    ts += 0.001
                    _packet(writer, traffic, rnd, ts, (dst, src, dport, sport, proto))
    return traffic


def _packet(
    writer: dpkt.pcap.Writer,
    traffic: Traffic,
    rnd: random.Random,
    ts: float,
    key: tuple[str, str, int, int, int],
) -> None:
    src, dst, sport, dport, proto = key
    payload = rnd.randbytes(rnd.randrange(0, 900))
    if proto == 6:
        l4: dpkt.Packet = dpkt.tcp.TCP(
            sport=sport, dport=dport, flags=dpkt.tcp.TH_ACK, data=payload
        )
    else:
        l4 = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
        l4.ulen = len(l4)
    if ":" in src:
        ip: dpkt.Packet = dpkt.ip6.IP6(
            src=socket.inet_pton(socket.AF_INET6, src),
            dst=socket.inet_pton(socket.AF_INET6, dst),
            nxt=proto, hlim=64, data=l4, plen=len(l4),
        )  # fmt: skip
        etype = dpkt.ethernet.ETH_TYPE_IP6
    else:
        ip = dpkt.ip.IP(
            src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, ttl=64, data=l4
        )
        ip.len = len(ip)
        etype = dpkt.ethernet.ETH_TYPE_IP
    frame = dpkt.ethernet.Ethernet(
        src=b"\x02\0\0\0\0\x01", dst=b"\x02\0\0\0\0\x02", type=etype, data=ip
    )
    raw = bytes(frame)
    writer.writepkt(raw, ts=ts)
    size = len(bytes(ip))
    traffic.packets += 1
    traffic.ip_bytes += size
    traffic.frame_bytes += len(raw)
    traffic.frames.setdefault(key, []).append(len(raw))
    stats = traffic.flows.setdefault(key, [0, 0])
    stats[0] += size
    stats[1] += 1


class UdpSink:
    """Collects the datagrams an exporter sends to 127.0.0.1:port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.datagrams: list[bytes] = []
        self.last = time.monotonic()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            self.datagrams.append(data)
            self.last = time.monotonic()

    def wait_quiet(self, quiet: float = 1.0, limit: float = 30.0) -> list[bytes]:
        """Wait until nothing arrived for `quiet` seconds (or `limit`), then stop."""
        start = time.monotonic()
        while time.monotonic() - start < limit:
            if self.datagrams and time.monotonic() - self.last > quiet:
                break
            time.sleep(0.1)
        self._stop = True
        self._thread.join()
        self.sock.close()
        return self.datagrams
