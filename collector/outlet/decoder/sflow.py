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

from collector.kafka.envelope import FLAG_USE_SRC_ADDR, Envelope
from collector.outlet.decoder import metrics as m
from collector.outlet.decoder.batch import EMPTY_U32, Chunk
from collector.outlet.decoder.counters import Counters
from collector.outlet.decoder.headers import (
    DECAP_NONE,
    PAD,
    be32_reader,
    items,
    parse_headers,
    take_rows,
    words,
)

_II = struct.Struct("!II")
_I = struct.Struct("!I")
_HEAD4 = struct.Struct("!II4s12xI")  # version, address type, IPv4 agent, (3 words), samples
NS = 1_000_000_000
LOCAL = 0x3FFFFFFF
SFLOW_VERSION = "sflow5"  # the version label, distinct from NetFlow v5
_MAPPED = b"\0" * 10 + b"\xff\xff"
_PADDING = b"\0" * PAD

# sFlow discard reasons (output format 1) -> RFC 7270 forwarding status "dropped" codes.
# (https://sflow.org/sflow_drops.txt reasons; 131 unroutable, 129/130 ACL, 132 adjacency,
# 133 fragmentation and DF, 135 bad length, 137 bad TTL, 138 policer, 139 WRED, 140 RPF,
# 143 hardware; any other reason: 128, dropped for an unknown reason)
_DISCARD_CODES = {
    0: 131, 1: 131, 2: 131, 3: 131, 4: 133, 5: 131, 6: 131, 7: 131, 8: 132, 9: 129, 10: 129,
    257: 137, 258: 130, 259: 143, 260: 139, 261: 138, 262: 135, 263: 131, 269: 130, 302: 140,
}  # fmt: skip


VECTOR_SAMPLES = 16  # samples per datagram walked in NumPy; the rest (hostile) in Python
VECTOR_RECORDS = 12  # records per sample walked in NumPy; samples with more: in Python
# Below this many datagrams (samples) still walking, a step of the walk is cheaper in Python
# (a NumPy step costs ~40 µs whatever its size): the same steps in the same order, so that
# rows and counts do not depend on it; a flush of one datagram no longer pays 28 NumPy steps.
VECTOR_MIN = 8


class SflowDecoder:
    def __init__(self, counters: Counters) -> None:
        self.c = counters
        self._reset()

    def _reset(self) -> None:
        self.buffers: list[bytes] = []
        self.base = 0
        self.scan: list[int] = []  # per datagram: first sample, end, count
        self.rows: list[tuple[int, int, int, int, int]] = []  # sample, expanded, dg, raw, switch
        self.extras: list[tuple[int, int, dict[str, Any]]] = []  # (row, priority, columns)
        self.exporters: list[bytes] = []  # of this flush, each once
        self._eids: dict[bytes, int] = {}  # exporter -> its index in `exporters`
        self.dg_eid: list[int] = []  # per datagram: its exporter's index
        self.dg_time: list[int] = []
        self.dg_decap: list[int] = []
        self._joined = b""

    def walk(self, env: Envelope, exporter: bytes, decap: int = DECAP_NONE) -> None:
        """Read one datagram's header; its samples are walked by `build()` for the whole
        flush at once. Hot path; never raises."""
        buf = env.payload
        end = len(buf)
        c = self.c
        version = atype = 0
        if end >= 28:  # sFlow v5 of an IPv4 agent, most datagrams: one unpack
            version, atype, agent, nsamples = _HEAD4.unpack_from(buf)
        if version == 5 and atype == 1:
            agent, p = _MAPPED + agent, 12
        else:
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
        if not env.flags & FLAG_USE_SRC_ADDR:
            exporter = agent
        c.datagrams[(exporter, SFLOW_VERSION)] += 1  # (Counters.datagram, inlined)
        if not nsamples:
            return
        base = self.base
        self.scan += (base + p + 16, base + end, nsamples)
        self.buffers.append(buf)
        self.base += end
        eid = self._eids.get(exporter)
        if eid is None:
            eid = self._eids[exporter] = len(self._eids)
            self.exporters.append(exporter)
        self.dg_eid.append(eid)
        self.dg_time.append(env.receive_time_ns // NS)
        self.dg_decap.append(decap)

    def _samples(self, u: np.ndarray, be32: Any) -> tuple[np.ndarray, ...]:
        """Walk every datagram's samples and records in NumPy: columns (sample, expanded,
        datagram, raw header record or -1, extended switch record or -1) of global offsets.
        Malformed samples and datagrams are counted per exporter as before.

        A step reads each walking datagram's (or sample's) next format and length with one
        gather; what a sample is (flow sample, expanded, long enough) is worked out once for
        all steps after the walk; arrays are compacted only when a datagram stops early."""
        scan = np.array(self.scan, dtype=np.int64).reshape(-1, 3)
        ndg = len(scan)
        pos, end, left = scan[:, 0].copy(), scan[:, 1].copy(), scan[:, 2].copy()
        truncated = np.zeros(ndg, dtype=np.int64)
        bad = np.zeros(ndg, dtype=np.int64)
        found: list[tuple[np.ndarray, ...]] = []
        joined = self._joined
        pairs = items(u, 8)
        last = len(pairs) - 1
        act = np.flatnonzero(left > 0)
        p, e, count = pos[act], end[act], left[act]
        steps: list[tuple[np.ndarray, ...]] = []  # per step: datagram, offset, format, next, ok
        it = 0
        while it < VECTOR_SAMPLES and act.size:
            if act.size < VECTOR_MIN:  # few datagrams left: the same steps, in Python
                pos[act], left[act] = p, count - it
                act = _samples_py(joined, act, pos, end, left, truncated, bad, found,
                                  VECTOR_SAMPLES - it)  # fmt: skip
                break
            pair = pairs[np.minimum(p, last)].view(">u4").reshape(-1, 2)
            nxt = p + 8 + pair[:, 1]
            ok = nxt <= e  # (the 8-byte sample header fits too: the length is unsigned)
            steps.append((act, p, pair[:, 0], nxt, ok))
            it += 1
            stay = ok & (count > it)
            if stay.all():
                p = nxt
            else:
                act, p, e, count = act[stay], nxt[stay], e[stay], count[stay]
        else:
            pos[act], left[act] = p, count - it
        if steps:
            dgs, ps, fmts, nxts, oks = (np.concatenate(col) for col in zip(*steps, strict=True))
            if not oks.all():
                truncated += np.bincount(dgs[~oks], minlength=ndg)
            expanded = fmts == 3
            r = ps + np.where(expanded, 52, 40)  # past the sample's fixed fields
            flow = oks & ((fmts == 1) | expanded)
            short = flow & (r > nxts)
            if short.any():
                bad += np.bincount(dgs[short], minlength=ndg)
                flow &= ~short
            if not flow.all():
                dgs, ps, expanded, nxts, r = (x[flow] for x in (dgs, ps, expanded, nxts, r))
            found.insert(0, (ps + 8, expanded, dgs, nxts, r))
        if len(found) > 1:
            q, expanded, dg, send, r = (np.concatenate(col) for col in zip(*found, strict=True))
        elif found:
            q, expanded, dg, send, r = found[0]
        else:
            q = expanded = dg = send = r = np.zeros(0, dtype=np.int64)
        n = len(q)
        raw = np.full(n, -1, dtype=np.int64)
        sw = np.full(n, -1, dtype=np.int64)
        valid = np.ones(n, dtype=bool)
        rpos, rleft = r.copy(), be32(r - 4).astype(np.int64) if n else r.copy()
        extra: list[tuple[np.ndarray, ...]] = []
        blocks = items(u, 24)  # a record's format, length and a raw header record's fields
        last = len(blocks) - 1
        ract = np.flatnonzero(rleft > 0)
        every = len(ract) == n  # ract is all rows in order: scatters are plain masks
        rp, se, rl = rpos[ract], send[ract], rleft[ract]
        it = 0
        while it < VECTOR_RECORDS and ract.size:
            if ract.size < VECTOR_MIN:  # few samples left: the same steps, in Python
                rpos[ract], rleft[ract] = rp, rl
                ract = _records_py(joined, ract, rpos, rleft, send, valid, raw, sw, extra,
                                   VECTOR_RECORDS - it)  # fmt: skip
                break
            it += 1
            block = blocks[np.minimum(rp, last)].view(">u4").reshape(-1, 6)
            rfmt, rlen = block[:, 0], block[:, 1]
            rd = rp + 8
            rn = rd + rlen
            ok = rn <= se  # (the record header fits too)
            israw = ok & (rfmt == 1)
            # a raw header record: its 16 bytes of fields, and the header they announce, fit
            raw_ok = israw & (rlen >= 16) & (block[:, 5] <= rlen - 16)
            fail = ~ok | (israw ^ raw_ok)
            issw = ok & (rfmt == 1001) & (rlen >= 16)
            if every:
                valid &= ~fail
                raw = np.where(raw_ok, rd, raw)
                sw = np.where(issw, rd, sw)
            else:
                valid[ract[fail]] = False
                raw[ract[raw_ok]] = rd[raw_ok]
                sw[ract[issw]] = rd[issw]
            ext = ok & ((rfmt == 1002) | (rfmt == 1003) | (rfmt == 3) | (rfmt == 4))
            if ext.any():
                extra.append((ract[ext], rfmt[ext], rd[ext], rn[ext]))
            rl = rl - 1
            stay = ~fail & (rl > 0)
            if stay.all():
                rp = rn
            else:
                ract, rp, se, rl = ract[stay], rn[stay], se[stay], rl[stay]
                every = False
        slow = ract  # samples of many records: walked again in Python
        valid[slow] = False
        parsed: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        for rows, fmts, rds, rns in extra:
            for row, rfmt, rd, rn in zip(
                rows.tolist(), fmts.tolist(), rds.tolist(), rns.tolist(), strict=True
            ):
                if not valid[row]:
                    continue
                value = _parse_extra(joined, rfmt, rd, rn)
                if value is None:
                    valid[row] = False
                else:
                    parsed.setdefault(row, []).append((_PRIORITY[rfmt], value))
        invalid = ~valid
        invalid[slow] = False
        np.add.at(bad, dg[invalid], 1)
        cols = [q, expanded.astype(np.int64), dg, raw, sw]
        if not valid.all():
            keep = np.flatnonzero(valid)
            cols = [col[keep] for col in cols]
        kept = len(cols[0])
        if parsed:
            index = np.cumsum(valid) - 1
            for row, values in parsed.items():
                if valid[row]:
                    for priority, value in values:
                        self.extras.append((int(index[row]), priority, value))
        self.rows = []
        for row in slow.tolist():  # many records: the Python walk, from the sample's start
            self._sample(joined, int(q[row]), int(send[row]), int(expanded[row]), int(dg[row]),
                         kept)  # fmt: skip
        for i in act.tolist():  # many samples (the rest of the datagram): the Python walk
            self._rest(joined, int(pos[i]), int(end[i]), int(left[i]), i, kept)
        if self.rows:
            more = np.array(self.rows, dtype=np.int64).reshape(-1, 5).T
            cols = [
                np.concatenate([col, extra_col]) for col, extra_col in zip(cols, more, strict=True)
            ]
        for i in np.flatnonzero(truncated).tolist():
            self.c.error(self._exporter(i), m.TRUNCATED, int(truncated[i]))
        for i in np.flatnonzero(bad).tolist():
            self.c.error(self._exporter(i), m.BAD_LENGTH, int(bad[i]))
        return tuple(cols)

    def _exporter(self, dg: int) -> bytes:
        """The exporter of datagram `dg` (of this flush)."""
        return self.exporters[self.dg_eid[dg]]

    def _rest(self, buf: bytes, p: int, end: int, left: int, dg: int, first: int) -> None:
        """The remaining samples of a datagram, one by one."""
        exporter = self._exporter(dg)
        for _ in range(left):
            if p + 8 > end:
                self.c.error(exporter, m.TRUNCATED)
                return
            fmt, slen = _II.unpack_from(buf, p)
            q = p + 8
            p = q + slen
            if p > end:
                self.c.error(exporter, m.TRUNCATED)
                return
            if fmt in (1, 3):
                if q + (44 if fmt == 3 else 32) > p:
                    self.c.error(exporter, m.BAD_LENGTH)
                else:
                    self._sample(buf, q, p, int(fmt == 3), dg, first)

    def _sample(self, buf: bytes, q: int, p: int, expanded: int, dg: int, first: int) -> None:
        """One flow sample's records in Python (rows numbered from `first`)."""
        r = q + (44 if expanded else 32)
        nrec = _I.unpack_from(buf, r - 4)[0]
        raw = sw = -1
        row = first + len(self.rows)
        mark = len(self.extras)
        for _ in range(nrec):
            if r + 8 > p:
                break
            rfmt, rlen = _II.unpack_from(buf, r)
            rd = r + 8
            r = rd + rlen
            if r > p:
                break
            if rfmt == 1:
                if rlen < 16 or _I.unpack_from(buf, rd + 12)[0] + 16 > rlen:
                    break
                raw = rd
            elif rfmt == 1001:
                if rlen >= 16:
                    sw = rd
            elif rfmt in (1002, 1003, 3, 4):
                extra = _parse_extra(buf, rfmt, rd, r)
                if extra is None:
                    break
                self.extras.append((row, _PRIORITY[rfmt], extra))
        else:
            self.rows.append((q, expanded, dg, raw, sw))
            return
        self.c.error(self._exporter(dg), m.BAD_LENGTH)
        del self.extras[mark:]

    def build(self) -> list[Chunk]:
        """Columns of every flow sample walked since the last call. Hot path."""
        if not self.scan:
            self._reset()
            return []
        self.buffers.append(_PADDING)
        self._joined = b"".join(self.buffers)  # (one copy: no `+ padding` of the whole)
        u = np.frombuffer(self._joined, dtype=np.uint8)
        nowhere = self.base  # offset of the zero padding, for rows without a record
        be32 = be32_reader(u)

        q, expanded, dg, raw, sw = self._samples(u, be32)
        n = len(q)
        if not n:
            self._reset()
            return []
        expanded = expanded.astype(bool)
        exporters = self.exporters
        eid = np.array(self.dg_eid, dtype=np.intp)[dg]
        counts = np.bincount(eid, minlength=len(exporters))
        for i in np.flatnonzero(counts).tolist():
            self.c.flows(exporters[i], SFLOW_VERSION, int(counts[i]))

        cols: dict[str, Any] = {}
        # the sample header's first 10 words, gathered once: fields are columns of it
        head = words(u, q, 10)
        if expanded.any():
            cols["SamplingRate"] = np.where(expanded, head[:, 3], head[:, 2]).astype(np.uint64)
            inp, out = head[:, 5], head[:, 6]
            in_fmt = np.where(expanded, head[:, 6], inp >> 30)
            in_val = np.where(expanded, head[:, 7], inp & LOCAL)
            out_fmt = np.where(expanded, head[:, 8], out >> 30)
            out_val = np.where(expanded, head[:, 9], out & LOCAL)
        else:
            cols["SamplingRate"] = head[:, 2].astype(np.uint64)
            inp, out = head[:, 5], head[:, 6]
            in_fmt, in_val, out_fmt, out_val = inp >> 30, inp & LOCAL, out >> 30, out & LOCAL
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
        cols["ExporterAddress"] = np.array(exporters, dtype="S16")[eid]
        cols["TimeReceived"] = np.array(self.dg_time, dtype=np.uint32)[dg]
        cols["Packets"] = np.ones(n, dtype=np.uint64)

        has_raw = raw >= 0
        raw = np.where(has_raw, raw, nowhere)
        decap = None
        if any(self.dg_decap):
            decap = np.array(self.dg_decap, dtype=np.uint8)[dg]
        record = words(u, raw - 4, 5)  # record length, protocol, frame length, stripped, size
        l3len, keep = parse_headers(u, raw, has_raw, be32, cols, decap, record)
        # Bytes: the IP packet's length (NetFlow's meaning), the frame length if not IP
        frame = np.where(has_raw, record[:, 2], 0).astype(np.uint64)
        cols["Bytes"] = np.where(l3len > 0, l3len, frame)

        has_sw = sw >= 0
        if decap is not None:  # the switch and routing records describe the outer packet
            has_sw &= decap == DECAP_NONE
        if has_sw.any():
            swo = np.where(has_sw, sw, nowhere)
            switch = words(u, swo, 3)
            vin, vout = switch[:, 0], switch[:, 2]
            vin, vout = np.where(vin > 4095, 0, vin), np.where(vout > 4095, 0, vout)
            # the switch's VLANs where it gives one, else the tag of the sampled header
            src = cols["SrcVlan"]
            cols["SrcVlan"] = np.where(has_sw & (vin != 0), vin, src).astype(np.uint16)
            cols["DstVlan"] = np.where(has_sw, vout, cols["DstVlan"]).astype(np.uint16)
        if self.extras:
            self._apply_extras(cols, n, decap)
        chunk = (n, cols)
        if keep is not None and not keep.all():
            dropped = np.bincount(dg[~keep], minlength=len(self.dg_eid))
            for i in np.flatnonzero(dropped).tolist():
                self.c.error(self._exporter(i), m.NOT_ENCAPSULATED, int(dropped[i]))
                self.c.flows(self._exporter(i), SFLOW_VERSION, -int(dropped[i]))
            chunk = take_rows(n, cols, keep)
        self._reset()
        return [chunk]

    def _apply_extras(self, cols: dict[str, Any], n: int, decap: np.ndarray | None) -> None:
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
            if decap is not None and decap[row]:
                continue  # decapsulating: only the sampled header tells the inner packet
            if sampled and cols["EType"][row]:
                continue  # a raw header of the same sample is more complete
            for name, value in extra.items():
                column = cols[name]
                if isinstance(value, int):  # wrap like the vectorised columns do
                    value &= (1 << (8 * column.dtype.itemsize)) - 1
                column[row] = value


_PRIORITY = {3: 0, 4: 0, 1003: 1, 1002: 2}  # router next hop overrides the gateway's


def _addr(buf: bytes, p: int) -> tuple[bytes, int]:
    atype = _I.unpack_from(buf, p)[0]
    if atype == 1:
        return _MAPPED + buf[p + 4 : p + 8], p + 8
    if atype == 2:
        return buf[p + 4 : p + 20], p + 20
    return b"", p + 4


def _samples_py(
    buf: bytes,
    act: np.ndarray,
    pos: np.ndarray,
    end: np.ndarray,
    left: np.ndarray,
    truncated: np.ndarray,
    bad: np.ndarray,
    found: list[tuple[np.ndarray, ...]],
    steps: int,
) -> np.ndarray:
    """`steps` steps of SflowDecoder._samples' sample walk for the datagrams `act`, in Python:
    the same rows appended to `found` in the same order; the datagrams still walking."""
    acts = act.tolist()
    for _ in range(steps):
        if not acts:
            break
        rows: list[list[int]] = [[], [], [], [], []]  # q, expanded, datagram, end, records
        still = []
        for i in acts:
            p, e = int(pos[i]), int(end[i])
            left[i] -= 1
            if p + 8 > e:
                truncated[i] += 1
                continue
            fmt, slen = _II.unpack_from(buf, p)
            nxt = p + 8 + slen
            if nxt > e:
                truncated[i] += 1
                continue
            expanded = fmt == 3
            r = p + 8 + (44 if expanded else 32)
            if fmt == 1 or expanded:
                if r > nxt:
                    bad[i] += 1
                else:
                    for col, value in zip(rows, (p + 8, expanded, i, nxt, r), strict=True):
                        col.append(value)
            pos[i] = nxt
            if left[i] > 0:
                still.append(i)
        q, exp, dg, send, rec = (np.array(col, dtype=np.int64) for col in rows)
        found.append((q, exp.astype(bool), dg, send, rec))
        acts = still
    return np.array(acts, dtype=np.int64)


def _records_py(
    buf: bytes,
    ract: np.ndarray,
    rpos: np.ndarray,
    rleft: np.ndarray,
    send: np.ndarray,
    valid: np.ndarray,
    raw: np.ndarray,
    sw: np.ndarray,
    extra: list[tuple[np.ndarray, ...]],
    steps: int,
) -> np.ndarray:
    """`steps` steps of SflowDecoder._samples' record walk for the samples `ract`, in Python
    (same marks, same extras in the same order); the samples still walking."""
    racts = ract.tolist()
    for _ in range(steps):
        if not racts:
            break
        ext: list[list[int]] = [[], [], [], []]  # sample, format, data start, data end
        still = []
        for i in racts:
            rp, se = int(rpos[i]), int(send[i])
            rleft[i] -= 1
            if rp + 8 > se:
                valid[i] = False
                continue
            rfmt, rlen = _II.unpack_from(buf, rp)
            rd = rp + 8
            rn = rd + rlen
            if rn > se:
                valid[i] = False
                continue
            if rfmt == 1:
                if rlen < 16 or _I.unpack_from(buf, rd + 12)[0] + 16 > rlen:
                    valid[i] = False
                    continue
                raw[i] = rd
            elif rfmt == 1001:
                if rlen >= 16:
                    sw[i] = rd
            elif rfmt in (1002, 1003, 3, 4):
                for col, value in zip(ext, (i, rfmt, rd, rn), strict=True):
                    col.append(value)
            rpos[i] = rn
            if rleft[i] > 0:
                still.append(i)
        if ext[0]:
            extra.append(tuple(np.array(col, dtype=np.int64) for col in ext))
        racts = still
    return np.array(racts, dtype=np.int64)


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
                "SrcAS": src_as or own_as,  # 0: the source is in our own AS
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
