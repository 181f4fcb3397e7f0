"""Sampled packet headers (sFlow raw headers, IPFIX dataLinkFrameSection), parsed in NumPy.

All headers of a flush are parsed at once: each row is a window of the first bytes of one
packet, and every layer (Ethernet, 802.1Q/QinQ, MPLS, pseudowire control word, IPv4, IPv6
and its extension headers, TCP/UDP/ICMP, and with a decapsulation mode VXLAN, GRE, IP in IP
or SRv6) is a handful of vectorised gathers over all rows. See README.md for the rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from collector.outlet.decoder.batch import EMPTY_U32

WINDOW = 160  # bytes of each header looked at (Ethernet + 2 VLAN + MPLS + IPv6 + TCP fit)
DECAP_WINDOW = 256  # with a decapsulation mode: outer + tunnel + inner headers
PAD = DECAP_WINDOW + 64  # zero bytes after the concatenated datagrams
_MAPPED = np.frombuffer(b"\0\0\xff\xff", dtype=np.uint32)[0]  # bytes 8-11 of ::ffff:a.b.c.d

# Decapsulation modes (per datagram): the inner packet is reported, plain packets dropped.
DECAP_NONE, DECAP_VXLAN, DECAP_GRE, DECAP_IPIP, DECAP_SRV6 = range(5)
DECAP_MODES = {
    "none": DECAP_NONE,
    "vxlan": DECAP_VXLAN,
    "gre": DECAP_GRE,
    "ipip": DECAP_IPIP,
    "srv6": DECAP_SRV6,
}
VXLAN_PORT = 4789
# VLAN tag protocol ids: 0x8100, 0x88A8, 0x9100; IPv6 extension headers skipped: hop-by-hop
# (0), routing (43), fragment (44), destination options (60); IP in IP: 4 (IPv4), 41 (IPv6)


def decap_mode(name: str | int | None) -> int:
    """The numeric mode of `none|vxlan|gre|ipip|srv6` (ValueError naming the choices)."""
    if name is None:
        return DECAP_NONE
    if isinstance(name, int):
        if name not in DECAP_MODES.values():
            raise ValueError(f"unknown decapsulation mode {name}")
        return name
    try:
        return DECAP_MODES[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown decapsulation {name!r}; choose among {', '.join(DECAP_MODES)}"
        ) from None


class _Window:
    """The first bytes of every header as an (n, window) array, with clamped gathers (an
    offset past the window reads its last byte, as NumPy's clamped indexing did)."""

    def __init__(self, hdr: np.ndarray) -> None:
        self.hdr = hdr
        self.flat = hdr.reshape(-1)
        self.width = hdr.shape[1]
        self.base = np.arange(hdr.shape[0]) * self.width  # each row's first byte in `flat`
        self.last = self.width - 1

    def g8(self, off: np.ndarray | int) -> np.ndarray:
        if isinstance(off, int):  # the same offset in every row: a column, no gather
            return self.hdr[:, min(off, self.last)].astype(np.uint32)
        return self.flat[self.base + np.minimum(off, self.last)].astype(np.uint32)

    def g16(self, off: np.ndarray | int) -> np.ndarray:
        if isinstance(off, int) and off < self.last:  # a column of big-endian halfwords
            return self.hdr[:, off : off + 2].view(">u2")[:, 0].astype(np.uint32)
        return (self.g8(off) << 8) | self.g8(off + 1)

    def g32(self, off: np.ndarray | int) -> np.ndarray:
        return (self.g16(off) << 16) | self.g16(off + 2)

    def take(self, off: np.ndarray | int, width: int) -> np.ndarray:
        """(n, width) bytes from `off` of each row (clamped to end within the row)."""
        if isinstance(off, int):
            off = min(off, self.width - width)
            return self.hdr[:, off : off + width]
        start = self.base + np.minimum(off, self.width - width)
        return items(self.flat, width)[start].view(np.uint8).reshape(-1, width)


def _ethernet(w: _Window, start: np.ndarray | int, active: np.ndarray) -> tuple[Any, ...]:
    """(ethertype, L3 offset, innermost VLAN, dst MAC, src MAC) of an Ethernet frame at `start`."""
    n = len(active)
    etype = np.where(active, w.g16(start + 12), 0)
    l3: np.ndarray | int = start + 14
    vlan = np.zeros(n, dtype=np.uint32)
    for _ in range(2):  # 802.1Q, then the customer tag of QinQ: the innermost tag wins
        tagged = active & ((etype == 0x8100) | (etype == 0x88A8) | (etype == 0x9100))
        if not tagged.any():
            break
        vlan = np.where(tagged, w.g16(l3) & 0xFFF, vlan)
        etype = np.where(tagged, w.g16(l3 + 2), etype)
        l3 = l3 + 4 * tagged
    if isinstance(start, int):  # bytes 0-8 and 4-12 as big-endian words: the MACs in them
        dmac = w.hdr[:, start : start + 8].view(">u8")[:, 0] >> 16
        smac = w.hdr[:, start + 4 : start + 12].view(">u8")[:, 0] & 0xFFFF_FFFF_FFFF
        dmac, smac = np.where(active, dmac, 0), np.where(active, smac, 0)
    else:
        macs = np.zeros((n, 16), dtype=np.uint8)  # both MACs as two big-endian 8-byte words
        macs[:, 2:8], macs[:, 10:16] = w.take(start, 6), w.take(start + 6, 6)
        both = np.where(active[:, None], macs.view(">u8"), 0)
        dmac, smac = both[:, 0], both[:, 1]
    l3 = l3 + np.zeros(n, dtype=np.int64) if isinstance(l3, int) else l3
    return etype, l3, vlan, dmac, smac


def _ipv6_payload(w: _Window, l3: np.ndarray, v6: np.ndarray, first: np.ndarray) -> tuple[Any, ...]:
    """(next header, its offset, later fragment, saw a segment routing header) past IPv6
    extension headers (up to four); `first`: the fixed header's next header byte."""
    nh = np.where(v6, first, 0)
    l4 = l3 + 40
    later_fragment = np.zeros(len(l3), dtype=bool)
    srh = np.zeros(len(l3), dtype=bool)
    for _ in range(4):
        ext = v6 & ((nh == 0) | (nh == 43) | (nh == 44) | (nh == 60))
        if not ext.any():
            break
        frag = ext & (nh == 44)
        later_fragment |= frag & ((w.g16(l4 + 2) >> 3) != 0)
        srh |= ext & (nh == 43) & (w.g8(l4 + 2) == 4)
        size = np.where(frag, 8, (w.g8(l4 + 1) + 1) * 8)
        nh = np.where(ext, w.g8(l4), nh)
        l4 = l4 + np.where(ext, size, 0)
    return nh, l4, later_fragment, srh


def _l4(
    w: _Window, l3: np.ndarray, etype: np.ndarray, ip: np.ndarray | None = None
) -> tuple[Any, ...]:
    """(v4, v6, protocol, L4 offset, not a first fragment, saw an SRH) of the IP packet at l3.

    `ip`: `w.take(l3, 40)` if already taken; its bytes stand for the fixed header's fields
    in rows whose 40 bytes fit the window (the others are read one by one, clamped)."""
    v4 = etype == 0x0800
    v6 = etype == 0x86DD
    if ip is None:
        ip = w.take(l3, 40)
    near = l3 <= w.width - 40
    everywhere = bool(near.all())

    def byte(k: int) -> np.ndarray:
        got = ip[:, k].astype(np.uint32)
        return got if everywhere else np.where(near, got, w.g8(l3 + k))

    b6 = byte(6)
    nh6, l4_6, frag6, srh = _ipv6_payload(w, l3, v6, b6)
    proto = np.where(v4, byte(9), nh6)
    l4 = np.where(v4, l3 + (byte(0) & 0xF) * 4, l4_6)
    fragment = (v4 & ((((b6 << 8) | byte(7)) & 0x1FFF) != 0)) | frag6
    return v4, v6, proto, l4, fragment, srh


def _decapsulate(
    w: _Window, mode: np.ndarray, l3: np.ndarray, etype: np.ndarray
) -> tuple[Any, ...]:
    """(encapsulated rows, inner L3 offset, inner ethertype, rows whose inner packet is an
    Ethernet frame, its offset) for each row's mode."""
    v4, v6, proto, l4, _, _ = _l4(w, l3, etype)
    ip = v4 | v6
    ok = np.zeros(len(l3), dtype=bool)
    new_l3 = l3.copy()
    new_etype = etype.copy()
    inner_eth = np.zeros(len(l3), dtype=bool)
    eth_at = np.zeros(len(l3), dtype=np.int64)
    by_proto = np.where(proto == 4, 0x0800, 0x86DD)
    ipip = ((mode == DECAP_IPIP) & ip) | ((mode == DECAP_SRV6) & v6)
    ipip &= (proto == 4) | (proto == 41)
    if ipip.any():
        ok |= ipip
        new_l3 = np.where(ipip, l4, new_l3)
        new_etype = np.where(ipip, by_proto, new_etype)
    gre = (mode == DECAP_GRE) & ip & (proto == 47)
    if gre.any():
        flags, ptype = w.g16(l4), w.g16(l4 + 2)
        size = 4 + 4 * ((flags >> 15) & 1) + 4 * ((flags >> 13) & 1) + 4 * ((flags >> 12) & 1)
        gre &= (flags & 7) == 0  # GRE version 0
        teb = gre & (ptype == 0x6558)  # transparent Ethernet bridging: an Ethernet frame
        gip = gre & ((ptype == 0x0800) | (ptype == 0x86DD))
        ok |= teb | gip
        new_l3 = np.where(gip, l4 + size, new_l3)
        new_etype = np.where(gip, ptype, new_etype)
        inner_eth |= teb
        eth_at = np.where(teb, l4 + size, eth_at)
    vxlan = (mode == DECAP_VXLAN) & ip & (proto == 17) & (w.g16(l4 + 2) == VXLAN_PORT)
    if vxlan.any():
        vxlan &= (w.g8(l4 + 8) & 0x08) != 0  # the VNI-present flag
        ok |= vxlan
        inner_eth |= vxlan
        eth_at = np.where(vxlan, l4 + 16, eth_at)
    return ok, new_l3, new_etype, inner_eth, eth_at


_TAILS: dict[int, np.ndarray] = {}


def _tails(window: int) -> np.ndarray:
    """Item h: `window` bytes, the first h 0xFF, the rest 0 (ANDed: a header cut at h bytes)."""
    table = _TAILS.get(window)
    if table is None:
        ones = np.tri(window + 1, window, -1, dtype=np.uint8) * 0xFF
        table = _TAILS[window] = ones.view(f"V{window}").ravel()
    return table


def parse_headers(
    u: np.ndarray,
    raw: np.ndarray,
    has_raw: np.ndarray,
    be32: Callable[[np.ndarray], np.ndarray],
    cols: dict[str, Any],
    decap: np.ndarray | None = None,
    record: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Parse every sFlow raw header record at offsets `raw` of `u` into `cols`.

    Returns (L3 length per row, 0 where the header holds no IP packet; rows to keep, None
    for all): with a decapsulation mode per row (`decap`), rows whose packet is not
    encapsulated that way are not to be kept. `record`: `words(u, raw - 4, 5)` if the
    caller has it. Hot path.
    """
    n = len(raw)
    if record is None:  # record length, protocol, frame length, stripped, size
        record = words(u, raw - 4, 5)
    proto = np.where(has_raw, record[:, 1], 0)
    # the sampled header never extends past its record (checked here for the whole batch)
    room = np.where(has_raw, record[:, 0].astype(np.int64) - 16, 0)
    decapsulating = decap is not None and bool(decap.any())
    window = DECAP_WINDOW if decapsulating else WINDOW
    hlen = np.minimum(np.minimum(np.where(has_raw, record[:, 4], 0), room), window)
    hlen = np.maximum(hlen, 0)
    # each row: the window's bytes (one gather of `window`-byte items), zero past hlen
    hdr = items(u, window)[raw + 16].view(np.uint8).reshape(n, window)
    hdr.view(np.uint64)[:] &= _tails(window)[hlen].view(np.uint64).reshape(n, -1)
    w = _Window(hdr)

    eth = proto == 1
    etype, l3, vlan, dmac, smac = _ethernet(w, 0, eth)
    etype = np.where(proto == 11, 0x0800, np.where(proto == 12, 0x86DD, etype))
    l3 = np.where(eth, l3, 0)
    mpls = (etype == 0x8847) | (etype == 0x8848)
    if mpls.any():
        etype, l3, vlan, dmac, smac = _mpls(w, mpls, etype, l3, vlan, dmac, smac, cols)
    keep = None
    if decapsulating:
        assert decap is not None
        ok, l3, etype, inner_eth, eth_at = _decapsulate(w, decap, l3, etype)
        if inner_eth.any():
            e2, l3b, vlan2, dmac2, smac2 = _ethernet(w, eth_at, inner_eth)
            etype = np.where(inner_eth, e2, etype)
            l3 = np.where(inner_eth, l3b, l3)
            vlan = np.where(inner_eth, vlan2, vlan)
            dmac = np.where(inner_eth, dmac2, dmac)
            smac = np.where(inner_eth, smac2, smac)
        keep = ok | (decap == DECAP_NONE)
    cols["SrcVlan"] = vlan.astype(np.uint16)
    cols["DstVlan"] = np.zeros(n, dtype=np.uint16)
    cols["DstMAC"] = dmac.astype(np.uint64)
    cols["SrcMAC"] = smac.astype(np.uint64)
    cols["EType"] = etype.astype(np.uint16)
    return _ip(w, l3, etype, cols), keep


def _mpls(
    w: _Window,
    mpls: np.ndarray,
    etype: np.ndarray,
    l3: np.ndarray,
    vlan: np.ndarray,
    dmac: np.ndarray,
    smac: np.ndarray,
    cols: dict[str, Any],
) -> tuple[Any, ...]:
    """Labels (explicit-null 0 kept) up to the bottom of stack, then IPv4, IPv6, or a
    pseudowire control word followed by an Ethernet frame (EoMPLS)."""
    n = len(mpls)
    labels = np.empty(n, dtype=object)
    labels.fill(EMPTY_U32)
    stack: list[np.ndarray] = []
    depth = np.zeros(n, dtype=np.int64)
    inside = mpls.copy()
    for _ in range(8):
        entry = w.g32(l3)
        stack.append(entry >> 12)
        depth += inside
        l3 = l3 + 4 * inside
        inside = inside & ((entry & 0x100) == 0)
        if not inside.any():
            break
    table = np.stack(stack, axis=1).astype(np.uint32)
    for i in np.flatnonzero(mpls).tolist():
        labels[i] = table[i, : depth[i]].copy()
    cols["MPLSLabels"] = labels
    nibble = w.g8(l3) >> 4
    etype = np.where(mpls, np.where(nibble == 4, 0x0800, np.where(nibble == 6, 0x86DD, 0)), etype)
    cw = mpls & (nibble == 0)  # RFC 4385 control word, then the Ethernet frame
    if cw.any():
        e2, l3b, vlan2, dmac2, smac2 = _ethernet(w, l3 + 4, cw)
        etype = np.where(cw, e2, etype)
        l3 = np.where(cw, l3b, l3)
        vlan = np.where(cw & (vlan2 != 0), vlan2, vlan)
        dmac = np.where(cw, dmac2, dmac)
        smac = np.where(cw, smac2, smac)
    return etype, l3, vlan, dmac, smac


def _ip(w: _Window, l3: np.ndarray, etype: np.ndarray, cols: dict[str, Any]) -> np.ndarray:
    """IPv4/IPv6 and TCP/UDP/ICMP columns of the packet at `l3`; returns its L3 length.

    The fixed IP header and the first L4 bytes are gathered once per row (40 and 14 bytes),
    every field is then a column of those."""
    ip = w.take(l3, 40)
    v4, v6, l4proto, l4, fragment, _ = _l4(w, l3, etype, ip)
    seg = w.take(l4, 14)
    # both addresses as 16-byte items: IPv6 bytes 8-40 as they are, IPv4 mapped, else zero
    ip32 = ip.view(np.uint32)  # (n, 10) words of the raw bytes (byte order kept)
    addrs = np.zeros((len(ip), 8), dtype=np.uint32)
    addrs[:, 2] = addrs[:, 6] = np.where(v4, _MAPPED, 0)
    addrs[:, 3], addrs[:, 7] = np.where(v4, ip32[:, 3], 0), np.where(v4, ip32[:, 4], 0)
    six = np.flatnonzero(v6)
    addrs[six] = ip32[six, 2:]
    addrs = addrs.view("S16")
    cols["SrcAddr"], cols["DstAddr"] = addrs[:, 0], addrs[:, 1]
    b0, b1 = ip[:, 0].astype(np.uint32), ip[:, 1].astype(np.uint32)
    l4proto = np.where(v4 | v6, l4proto, 0)
    cols["Proto"] = l4proto.astype(np.uint8)
    cols["IPTos"] = np.where(v4, b1, np.where(v6, ((b0 & 0xF) << 4) | (b1 >> 4), 0)).astype(
        np.uint8
    )
    cols["IPTTL"] = np.where(v4, ip[:, 8], np.where(v6, ip[:, 7], 0)).astype(np.uint8)
    ports = (v4 | v6) & ~fragment & ((l4proto == 6) | (l4proto == 17))
    pair = seg[:, :4].view(">u2")  # source and destination port
    cols["SrcPort"] = np.where(ports, pair[:, 0], 0).astype(np.uint16)
    cols["DstPort"] = np.where(ports, pair[:, 1], 0).astype(np.uint16)
    cols["TCPFlags"] = np.where(ports & (l4proto == 6), seg[:, 13], 0).astype(np.uint16)
    icmp4 = v4 & ~fragment & (l4proto == 1)
    icmp6 = v6 & ~fragment & (l4proto == 58)
    t, code = seg[:, 0], seg[:, 1]
    cols["ICMPv4Type"] = np.where(icmp4, t, 0).astype(np.uint8)
    cols["ICMPv4Code"] = np.where(icmp4, code, 0).astype(np.uint8)
    cols["ICMPv6Type"] = np.where(icmp6, t, 0).astype(np.uint8)
    cols["ICMPv6Code"] = np.where(icmp6, code, 0).astype(np.uint8)
    lengths = ip[:, 2:6].view(">u2").astype(np.uint64)  # IPv4 total, IPv6 payload length
    return np.where(v4, lengths[:, 0], np.where(v6, lengths[:, 1] + 40, 0))


def parse_frames(
    frames: list[bytes], decap: np.ndarray | None = None
) -> tuple[dict[str, Any], np.ndarray, np.ndarray | None]:
    """Columns, L3 lengths and rows to keep of Ethernet frames (IPFIX dataLinkFrameSection)."""
    import struct

    # each frame as an sFlow raw header record: length word, then protocol 1 (Ethernet)
    records = [struct.pack("!IIIII", 16 + len(f), 1, len(f), 0, len(f)) + f for f in frames]
    offsets = np.cumsum([4] + [len(r) for r in records[:-1]], dtype=np.int64)
    u = np.frombuffer(b"".join(records) + b"\0" * PAD, dtype=np.uint8)
    be32 = be32_reader(u)

    cols: dict[str, Any] = {}
    l3len, keep = parse_headers(u, offsets, np.ones(len(frames), dtype=bool), be32, cols, decap)
    return cols, l3len, keep


def be32_reader(u: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Big-endian uint32 at each of an array of (unaligned) offsets into `u`."""
    view = items(u, 4)
    last = len(view) - 1

    def be32(offs: np.ndarray) -> np.ndarray:
        return view[np.minimum(offs, last)].view(">u4")

    return be32


def words(u: np.ndarray, offs: np.ndarray, count: int) -> np.ndarray:
    """(n, count) big-endian uint32 words from each (unaligned) offset into `u`, in one gather."""
    view = items(u, 4 * count)
    return view[np.minimum(offs, len(view) - 1)].view(">u4").reshape(-1, count)


def items(u: np.ndarray, width: int) -> np.ndarray:
    """Read-only view of every `width` bytes of the 1-D uint8 `u` as one opaque item each
    (item i: bytes i to i + width): a gather of n offsets is one pass copying n items,
    several times faster than gathering rows of a 2-D window view."""
    view = np.ndarray((len(u) - width + 1,), dtype=f"V{width}", buffer=u, strides=(1,))
    view.flags.writeable = False
    return view


def take_rows(n: int, cols: dict[str, Any], keep: np.ndarray) -> tuple[int, dict[str, Any]]:
    """The rows of `keep` (bool) of columns of `n` rows (scalars stay scalars)."""
    out = {}
    for name, value in cols.items():
        if isinstance(value, np.ndarray) and value.ndim >= 1 and len(value) == n:
            out[name] = value[keep]
        else:
            out[name] = value
    return int(np.count_nonzero(keep)), out
