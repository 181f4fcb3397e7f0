"""sFlow v5: walk samples and records in Python (offsets only), parse headers in NumPy.

`SflowDecoder.walk()` notes, for every flow sample, where its fields and its raw packet
header are in the concatenated datagrams; `build()` reads all of them at once with fancy
indexing over one uint8 array. Rare records (extended router/gateway, sampled IPv4/IPv6)
are parsed in Python into per-row overrides.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from collector.kafka.envelope import Envelope
from collector.outlet.decoder import metrics as m
from collector.outlet.decoder.batch import EMPTY_U32, Chunk
from collector.outlet.decoder.counters import Counters
from collector.outlet.decoder.templates import ipv4_to_s16, ipv6_to_s16

_II = struct.Struct("!II")
_I = struct.Struct("!I")
NS = 1_000_000_000
WINDOW = 160  # bytes of each raw header looked at (Ethernet + 2 VLAN + MPLS + IPv6 + TCP fit)
LOCAL = 0x3FFFFFFF
SFLOW_VERSION = "sflow5"  # the version label, distinct from NetFlow v5
_MAPPED = b"\0" * 10 + b"\xff\xff"

# sFlow discard reasons (output format 1) -> RFC 7270 forwarding status "dropped" codes.
_DISCARD_CODES = {257: 137, 258: 129, 260: 139, 261: 138, 262: 133, 0: 131, 1: 131}


class SflowDecoder:
    def __init__(self, counters: Counters) -> None:
        self.c = counters
        self.layouts: dict[tuple[int, int, bytes], tuple[Any, int, int]] = {}
        self._reset()

    def _reset(self) -> None:
        self.buffers: list[bytes] = []
        self.base = 0
        self.rows: list[tuple[int, int, int, int, int]] = []  # sample, expanded, dg, raw, switch
        self.extras: list[tuple[int, int, dict[str, Any]]] = []  # (row, priority, columns)
        self.dg_exporter: list[bytes] = []
        self.dg_time: list[int] = []

    def walk(self, env: Envelope, exporter: bytes) -> None:
        """Read one datagram's sample and record headers. Hot path; never raises."""
        buf = env.payload
        end = len(buf)
        c = self.c
        if end < 8:
            c.error(exporter, m.TRUNCATED)
            return
        version, atype = _II.unpack_from(buf)
        if version != 5:
            c.error(exporter, m.UNKNOWN_VERSION)
            return
        if atype == 1:
            agent, p = _MAPPED + buf[8:12], 12
        elif atype == 2:
            agent, p = buf[8:24], 24
        else:
            c.error(exporter, m.BAD_LENGTH)
            return
        if p + 16 > end:
            c.error(exporter, m.TRUNCATED)
            return
        nsamples = _I.unpack_from(buf, p + 12)[0]
        p += 16
        if not env.use_src_addr:
            exporter = agent
        dg = len(self.dg_exporter)
        base = self.base
        rows = self.rows
        layouts = self.layouts
        first_row = len(rows)
        for _ in range(nsamples):
            if p + 8 > end:
                c.error(exporter, m.TRUNCATED)
                break
            fmt, slen = _II.unpack_from(buf, p)
            q = p + 8
            p = q + slen
            if p > end:
                c.error(exporter, m.TRUNCATED)
                break
            if fmt == 1:
                r, expanded = q + 32, 0
            elif fmt == 3:
                r, expanded = q + 44, 1
            else:
                continue  # counter samples and enterprise formats are skipped
            if r > p:
                c.error(exporter, m.BAD_LENGTH)
                continue
            # Samples of one agent mostly share a layout (same records, same lengths): known
            # layouts skip the record walk, after checking every record header is the same.
            key = (fmt, slen, buf[r - 4 : r + 8])
            layout = layouts.get(key)
            if layout is not None:
                checks, raw_rel, sw_rel = layout
                for off, header in checks:
                    if buf[q + off : q + off + 8] != header:
                        break
                else:
                    rows.append(
                        (base + q, expanded, dg, base + q + raw_rel if raw_rel >= 0 else -1,
                         base + q + sw_rel if sw_rel >= 0 else -1)
                    )  # fmt: skip
                    continue
            nrec = _I.unpack_from(buf, r - 4)[0]
            raw = sw = -1
            row = len(rows)
            ok = True
            headers = []
            for _ in range(nrec):
                if r + 8 > p:
                    ok = False
                    break
                headers.append(r - q)
                rfmt, rlen = _II.unpack_from(buf, r)
                rd = r + 8
                r = rd + rlen
                if r > p:
                    ok = False
                    break
                if rfmt == 1:
                    if rlen < 16 or _I.unpack_from(buf, rd + 12)[0] + 16 > rlen:
                        ok = False
                        break
                    raw = base + rd
                elif rfmt == 1001:
                    if rlen >= 16:
                        sw = base + rd
                elif rfmt in (1002, 1003, 3, 4):
                    extra = _parse_extra(buf, rfmt, rd, r)
                    if extra is None:
                        ok = False
                        break
                    self.extras.append((row, _PRIORITY[rfmt], extra))
            if not ok:
                c.error(exporter, m.BAD_LENGTH)
                while self.extras and self.extras[-1][0] == row:
                    self.extras.pop()
                continue
            rows.append((base + q, expanded, dg, raw, sw))
            if not self.extras or self.extras[-1][0] != row:  # no per-row Python parsing
                if len(layouts) >= 4096:
                    layouts.clear()
                layouts[key] = (
                    tuple((off, buf[q + off : q + off + 8]) for off in headers[1:]),
                    raw - base - q if raw >= 0 else -1,
                    sw - base - q if sw >= 0 else -1,
                )
        c.datagram(exporter, SFLOW_VERSION)
        if len(rows) == first_row:
            return
        c.flows(exporter, SFLOW_VERSION, len(rows) - first_row)
        self.buffers.append(buf)
        self.base += end
        self.dg_exporter.append(exporter)
        self.dg_time.append(env.receive_time_ns // NS)

    def build(self) -> list[Chunk]:
        """Columns of every flow sample walked since the last call. Hot path."""
        if not self.rows:
            self._reset()
            return []
        pad = b"\0" * (WINDOW + 64)
        u = np.frombuffer(b"".join(self.buffers) + pad, dtype=np.uint8)
        nowhere = self.base  # offset of the zero padding, for rows without a record
        rows = np.array(self.rows, dtype=np.int64)
        n = len(rows)
        q, expanded, dg, raw, sw = rows.T
        expanded = expanded.astype(bool)
        r4 = np.arange(4)

        def be32(offs: np.ndarray) -> np.ndarray:
            return u[offs[:, None] + r4].view(">u4").ravel()

        cols: dict[str, Any] = {}
        cols["SamplingRate"] = np.where(expanded, be32(q + 12), be32(q + 8)).astype(np.uint64)
        inp, out = be32(q + 20), be32(q + 24)
        in_fmt = np.where(expanded, be32(q + 24), inp >> 30)
        in_val = np.where(expanded, be32(q + 28), inp & LOCAL)
        out_fmt = np.where(expanded, be32(q + 32), out >> 30)
        out_val = np.where(expanded, be32(q + 36), out & LOCAL)
        cols["InIf"] = np.where((in_fmt == 0) & (in_val != LOCAL), in_val, 0)
        cols["OutIf"] = np.where((out_fmt == 0) & (out_val != LOCAL), out_val, 0)
        discard = out_fmt == 1
        status = np.full(n, 64, dtype=np.uint8)
        status[(out_fmt == 0) & (out_val == LOCAL)] = 192
        if discard.any():
            reason = np.full(n, 128, dtype=np.uint8)
            for code, value in _DISCARD_CODES.items():
                reason[out_val == code] = value
            status = np.where(discard, reason, status)
        cols["ForwardingStatus"] = status
        cols["ExporterAddress"] = np.array(self.dg_exporter, dtype="S16")[dg]
        cols["TimeReceived"] = np.array(self.dg_time, dtype=np.uint32)[dg]
        cols["Packets"] = np.ones(n, dtype=np.uint64)

        has_raw = raw >= 0
        raw = np.where(has_raw, raw, nowhere)
        cols["Bytes"] = np.where(has_raw, be32(raw + 4), 0).astype(np.uint64)
        self._headers(u, raw, has_raw, be32, cols)

        has_sw = sw >= 0
        if has_sw.any():
            swo = np.where(has_sw, sw, nowhere)
            vin, vout = be32(swo), be32(swo + 8)
            vin, vout = np.where(vin > 4095, 0, vin), np.where(vout > 4095, 0, vout)
            cols["SrcVlan"] = np.where(has_sw, vin, cols["SrcVlan"]).astype(np.uint16)
            cols["DstVlan"] = np.where(has_sw, vout, cols["DstVlan"]).astype(np.uint16)
        if self.extras:
            self._apply_extras(cols, n)
        self._reset()
        return [(n, cols)]

    @staticmethod
    def _headers(
        u: np.ndarray, raw: np.ndarray, has_raw: np.ndarray, be32: Any, cols: dict
    ) -> None:
        """Parse Ethernet/802.1Q/QinQ/MPLS/IPv4/IPv6/TCP/UDP/ICMP of all raw headers at once."""
        n = len(raw)
        proto = np.where(has_raw, be32(raw), 0)
        # the sampled header never extends past its record (checked here for the whole batch)
        room = np.where(has_raw, be32(raw - 4).astype(np.int64) - 16, 0)
        hlen = np.minimum(np.minimum(np.where(has_raw, be32(raw + 12), 0), room), WINDOW)
        hlen = np.maximum(hlen, 0)
        span = np.arange(WINDOW)
        hdr = u[(raw + 16)[:, None] + span]
        hdr = np.where(span < hlen[:, None], hdr, 0).astype(np.uint8)
        rows = np.arange(n)
        last = WINDOW - 1

        def g8(off: np.ndarray) -> np.ndarray:
            return hdr[rows, np.minimum(off, last)].astype(np.uint32)

        def g16(off: np.ndarray) -> np.ndarray:
            return (g8(off) << 8) | g8(off + 1)

        eth = proto == 1
        etype = np.where(eth, (hdr[:, 12].astype(np.uint32) << 8) | hdr[:, 13], 0)
        etype = np.where(proto == 11, 0x0800, np.where(proto == 12, 0x86DD, etype))
        l3 = np.where(eth, 14, 0)
        vlan = np.zeros(n, dtype=np.uint32)
        for _ in range(2):  # 802.1Q, then QinQ
            tagged = (etype == 0x8100) | (etype == 0x88A8) | (etype == 0x9100)
            if not tagged.any():
                break
            vlan = np.where(tagged & (vlan == 0), g16(l3) & 0xFFF, vlan)
            etype = np.where(tagged, g16(l3 + 2), etype)
            l3 = l3 + 4 * tagged
        mpls = etype == 0x8847
        if mpls.any():
            labels = np.empty(n, dtype=object)
            labels.fill(EMPTY_U32)
            stack: list[np.ndarray] = []
            inside = mpls.copy()
            for _ in range(8):
                entry = (g16(l3) << 16) | g16(l3 + 2)
                stack.append(np.where(inside, entry >> 12, 0))
                l3 = l3 + 4 * inside
                inside = inside & ((entry & 0x100) == 0)
                if not inside.any():
                    break
            depth = np.stack(stack, axis=1)
            for i in np.flatnonzero(mpls).tolist():
                labels[i] = np.array([x for x in depth[i].tolist() if x], dtype=np.uint32)
            cols["MPLSLabels"] = labels
            nibble = g8(l3) >> 4
            etype = np.where(
                mpls, np.where(nibble == 4, 0x0800, np.where(nibble == 6, 0x86DD, 0)), etype
            )
        cols["SrcVlan"] = vlan.astype(np.uint16)
        cols["DstVlan"] = np.zeros(n, dtype=np.uint16)
        cols["DstMAC"] = np.where(eth, _mac(hdr[:, 0:6]), 0).astype(np.uint64)
        cols["SrcMAC"] = np.where(eth, _mac(hdr[:, 6:12]), 0).astype(np.uint64)
        cols["EType"] = etype.astype(np.uint16)

        v4 = etype == 0x0800
        v6 = etype == 0x86DD
        r4, r16 = np.arange(4), np.arange(16)
        src4 = ipv4_to_s16(hdr[rows[:, None], np.minimum((l3 + 12)[:, None] + r4, last)])
        dst4 = ipv4_to_s16(hdr[rows[:, None], np.minimum((l3 + 16)[:, None] + r4, last)])
        src6 = ipv6_to_s16(hdr[rows[:, None], np.minimum((l3 + 8)[:, None] + r16, last)])
        dst6 = ipv6_to_s16(hdr[rows[:, None], np.minimum((l3 + 24)[:, None] + r16, last)])
        cols["SrcAddr"] = np.where(v4, src4, np.where(v6, src6, b""))
        cols["DstAddr"] = np.where(v4, dst4, np.where(v6, dst6, b""))
        b0, b1 = g8(l3), g8(l3 + 1)
        l4proto = np.where(v4, g8(l3 + 9), np.where(v6, g8(l3 + 6), 0))
        cols["Proto"] = l4proto.astype(np.uint8)
        cols["IPTos"] = np.where(v4, b1, np.where(v6, ((b0 & 0xF) << 4) | (b1 >> 4), 0)).astype(
            np.uint8
        )
        cols["IPTTL"] = np.where(v4, g8(l3 + 8), np.where(v6, g8(l3 + 7), 0)).astype(np.uint8)
        fragment = v4 & ((g16(l3 + 6) & 0x1FFF) != 0)
        l4 = np.where(v4, l3 + (b0 & 0xF) * 4, l3 + 40)
        ports = (v4 | v6) & ~fragment & ((l4proto == 6) | (l4proto == 17))
        cols["SrcPort"] = np.where(ports, g16(l4), 0).astype(np.uint16)
        cols["DstPort"] = np.where(ports, g16(l4 + 2), 0).astype(np.uint16)
        cols["TCPFlags"] = np.where(ports & (l4proto == 6), g8(l4 + 13), 0).astype(np.uint16)
        icmp4 = v4 & ~fragment & (l4proto == 1)
        icmp6 = v6 & (l4proto == 58)
        t, code = g8(l4), g8(l4 + 1)
        cols["ICMPv4Type"] = np.where(icmp4, t, 0).astype(np.uint8)
        cols["ICMPv4Code"] = np.where(icmp4, code, 0).astype(np.uint8)
        cols["ICMPv6Type"] = np.where(icmp6, t, 0).astype(np.uint8)
        cols["ICMPv6Code"] = np.where(icmp6, code, 0).astype(np.uint8)

    def _apply_extras(self, cols: dict[str, Any], n: int) -> None:
        for name in ("NextHop", "DstASPath", "DstCommunities"):
            if name not in cols:
                if name == "NextHop":
                    cols[name] = np.zeros(n, dtype="S16")
                else:
                    cols[name] = np.empty(n, dtype=object)
                    cols[name].fill(EMPTY_U32)
        for name, dtype in (
            ("SrcNetMask", np.uint8), ("DstNetMask", np.uint8), ("SrcAS", np.uint32),
            ("DstAS", np.uint32),
        ):  # fmt: skip
            if name not in cols:
                cols[name] = np.zeros(n, dtype=dtype)
        for name in list(cols):
            if not isinstance(cols[name], np.ndarray):
                cols[name] = np.full(n, cols[name])
        for row, _, extra in sorted(self.extras, key=lambda e: (e[0], e[1])):
            sampled = extra.pop("_sampled", False)
            if sampled and cols["EType"][row]:
                continue  # a raw header of the same sample is more complete
            for name, value in extra.items():
                column = cols[name]
                if isinstance(value, int):  # wrap like the vectorised columns do
                    value &= (1 << (8 * column.dtype.itemsize)) - 1
                column[row] = value


def parse_frames(frames: list[bytes]) -> dict[str, Any]:
    """Columns from Ethernet frames (IPFIX dataLinkFrameSection), with the sFlow header parser."""
    # each frame as an sFlow raw header record: length word, then protocol 1 (Ethernet)
    records = [struct.pack("!IIIII", 16 + len(f), 1, len(f), 0, len(f)) + f for f in frames]
    offsets = np.cumsum([4] + [len(r) for r in records[:-1]], dtype=np.int64)
    u = np.frombuffer(b"".join(records) + b"\0" * (WINDOW + 64), dtype=np.uint8)
    r4 = np.arange(4)

    def be32(offs: np.ndarray) -> np.ndarray:
        return u[offs[:, None] + r4].view(">u4").ravel()

    cols: dict[str, Any] = {}
    SflowDecoder._headers(u, offsets, np.ones(len(frames), dtype=bool), be32, cols)
    return cols


_PRIORITY = {3: 0, 4: 0, 1003: 1, 1002: 2}  # router next hop overrides the gateway's


def _mac(raw: np.ndarray) -> np.ndarray:
    out = np.zeros((raw.shape[0], 8), dtype=np.uint8)
    out[:, 2:] = raw
    return out.view(">u8").ravel()


def _addr(buf: bytes, p: int) -> tuple[bytes, int]:
    atype = _I.unpack_from(buf, p)[0]
    if atype == 1:
        return _MAPPED + buf[p + 4 : p + 8], p + 8
    if atype == 2:
        return buf[p + 4 : p + 20], p + 20
    return b"", p + 4


def _parse_extra(buf: bytes, fmt: int, p: int, end: int) -> dict[str, Any] | None:
    """Extended router/gateway and sampled IPv4/IPv6 records, or None if malformed."""
    try:
        if fmt == 1002:
            nh, q = _addr(buf, p)
            smask, dmask = _II.unpack_from(buf, q)
            if q + 8 > end:
                return None
            return {"NextHop": nh, "SrcNetMask": smask, "DstNetMask": dmask}
        if fmt == 1003:
            nh, q = _addr(buf, p)
            own_as, src_as, _, nseg = struct.unpack_from("!IIII", buf, q)
            q += 16
            path: list[int] = []
            for _ in range(nseg):
                _, count = _II.unpack_from(buf, q)
                if count > 1024:
                    return None
                path.extend(struct.unpack_from(f"!{count}I", buf, q + 8))
                q += 8 + 4 * count
            ncomm = _I.unpack_from(buf, q)[0]
            if ncomm > 1024:
                return None
            communities = struct.unpack_from(f"!{ncomm}I", buf, q + 4)
            q += 4 + 4 * ncomm
            if q > end:
                return None
            return {
                "NextHop": nh,
                "SrcAS": src_as,
                "DstAS": path[-1] if path else own_as,  # empty path: our own AS
                "DstASPath": np.array(path, dtype=np.uint32),
                "DstCommunities": np.array(communities, dtype=np.uint32),
            }
        if fmt == 3:
            if p + 32 > end:
                return None
            length, proto, src, dst, sport, dport, flags, tos = struct.unpack_from(
                "!II4s4sIIII", buf, p
            )
            return {
                "_sampled": True, "Bytes": length, "Proto": proto, "EType": 0x0800,
                "SrcAddr": _MAPPED + src, "DstAddr": _MAPPED + dst, "SrcPort": sport,
                "DstPort": dport, "TCPFlags": flags, "IPTos": tos,
            }  # fmt: skip
        if fmt == 4:
            if p + 56 > end:
                return None
            length, proto, src, dst, sport, dport, flags, prio = struct.unpack_from(
                "!II16s16sIIII", buf, p
            )
            return {
                "_sampled": True, "Bytes": length, "Proto": proto, "EType": 0x86DD,
                "SrcAddr": src, "DstAddr": dst, "SrcPort": sport, "DstPort": dport,
                "TCPFlags": flags, "IPTos": prio,
            }  # fmt: skip
    except struct.error:
        return None
    return None
