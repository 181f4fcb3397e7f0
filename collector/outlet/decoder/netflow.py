"""NetFlow v5, v9 and IPFIX: walk datagrams (headers, sets), decode records in NumPy.

`NetflowDecoder.walk()` only reads datagram and set headers and keeps the raw record bytes
per template; `walk_many()` does the same for a flush's datagrams at once, in NumPy for
those made only of data sets of known fixed-length templates, and through `walk()`, in
order, for the others; `build()` decodes all records of one template at once through its
compiled structured dtype. Template and sampling state is keyed by (exporter, domain,
template id).
"""

from __future__ import annotations

import logging
import struct
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import repeat
from time import monotonic
from typing import Any, NamedTuple

import numpy as np

from collector.kafka.envelope import Envelope, TimestampSource
from collector.metrics.stats import Stats
from collector.outlet.decoder import metrics as m
from collector.outlet.decoder.batch import Chunk
from collector.outlet.decoder.config import DecoderConfig
from collector.outlet.decoder.counters import Counters
from collector.outlet.decoder.headers import DECAP_NONE, parse_frames, take_rows
from collector.outlet.decoder.templates import (
    DATALINK_FRAME_SECTION,
    VARIABLE,
    Compiled,
    Field,
    Template,
    TemplateKey,
    TemplateStore,
    compile_template,
    strip_variable,
)

log = logging.getLogger(__name__)

_HH = struct.Struct("!HH")
_V5 = struct.Struct("!HHIIIIBBH")
_V9 = struct.Struct("!HHIIII")
_IPFIX = struct.Struct("!HHIII")
_HHH = struct.Struct("!HHH")
_I = struct.Struct("!I")
_H = struct.Struct("!H")


def _unique_inverse(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(a, return_inverse=True)` for a 1-D int64 array, by one stable sort (NumPy
    2's unique took 150-350 µs for a thousand values)."""
    if not len(a) or (a[0] == a[-1] and (a == a[0]).all()):  # one template: the common case
        return a[:1], np.zeros(len(a), dtype=np.int64)
    order = np.argsort(a, kind="stable")
    ordered = a[order]
    new = np.empty(len(a), dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    inverse = np.empty(len(a), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return ordered[new], inverse


def _any(values: Any) -> bool:
    return bool(values.any()) if isinstance(values, np.ndarray) else any(values)


def _spans(u: np.ndarray, width: int) -> np.ndarray:
    """Every `width` bytes of the 1-D uint8 `u` as one item (a read-only `V{width}` view):
    fancy indexing it gathers whole records or sets, a copy per item."""
    view = np.ndarray((len(u) - width + 1,), dtype=f"V{width}", buffer=u, strides=(1,))
    view.flags.writeable = False
    return view


@lru_cache(maxsize=1024)
def _halfwords(count: int) -> struct.Struct:
    return struct.Struct(f"!{2 * count}H")


V5_TEMPLATE = Template(
    (
        (8, 4, 0), (12, 4, 0), (15, 4, 0), (10, 2, 0), (14, 2, 0), (2, 4, 0), (1, 4, 0),
        (22, 4, 0), (21, 4, 0), (7, 2, 0), (11, 2, 0), (210, 1, 0), (6, 1, 0), (4, 1, 0),
        (5, 1, 0), (16, 2, 0), (17, 2, 0), (9, 1, 0), (13, 1, 0), (210, 2, 0),
    )
)  # fmt: skip
V5_COMPILED = compile_template(V5_TEMPLATE)
# template field lists remembered (raw bytes -> Template), in fields (~110 bytes each with
# the raw bytes): forgotten all at once past it, 7 MiB at most
PARSED_MAX_FIELDS = 1 << 16
NS = 1_000_000_000
_TS_PACKET = TimestampSource.NETFLOW_PACKET  # module constants: no enum lookup per datagram
_TS_FIRST_SWITCHED = TimestampSource.NETFLOW_FIRST_SWITCHED
# walk_many: below this many datagrams (or datagrams still walking their sets), the Python
# walk is cheaper than NumPy steps (~10 µs each whatever their size)
VECTOR_MIN = 16
VECTOR_SETS = 8  # set steps in NumPy; a datagram of more sets is walked in Python
# template changes mid-flush after which walk_many leaves the rest of the flush to the
# Python walk (each one costs a new classification of the flush's datagrams)
VECTOR_REDO = 4
# fewer simple datagrams in a row (between two others) than this: the Python walk is cheaper
# than the NumPy work of a run (~100 µs, some of it per template)
VECTOR_RUN = 64
# fewer data sets than this per template (or per template of a run of simple datagrams): the
# NumPy work per template (~20 µs) costs more than the Python walk of its sets
VECTOR_SETS_PER_KEY = 128
_WALK_PAD = bytes(24)  # after the joined datagrams: header reads of short ones stay inside


class Part(NamedTuple):
    """Records of one data set: raw bytes and what the datagram header said about them."""

    data: bytes
    n: int
    time: int  # TimeReceived unless the record carries its own start time
    unix_secs: int
    uptime_ms: int
    rate: int  # sampling rate known when the set was read (0: unknown)
    first_switched: bool
    decap: int  # decapsulation mode of the datagram


class Run(NamedTuple):
    """Records of many data sets of one template, walked by `walk_many`: per-set arrays."""

    data: Any  # the records, one buffer
    n: np.ndarray  # records per set (int64)
    time: np.ndarray  # int64, as Part
    unix_secs: np.ndarray  # int64
    uptime_ms: np.ndarray  # int64
    rate: np.ndarray  # uint64
    first_switched: np.ndarray  # bool
    decap: np.ndarray  # uint8


_RUN_DTYPES = (None, np.int64, np.int64, np.int64, np.int64, np.uint64, np.bool_, np.uint8)


class _Flush(NamedTuple):
    """What `walk_many` found in a flush, for `_walk_simple`: the data sets of its simple
    datagrams (queue order, then set order) and what each datagram's header gives them."""

    u: np.ndarray  # the flush's datagrams, joined (uint8)
    dg: np.ndarray  # per data set: its datagram
    off: np.ndarray  # its offset in u
    slen: np.ndarray  # its length
    kid: np.ndarray  # its template, an index into keys
    keys: list[TemplateKey]
    names: list[bytes]  # the flush's exporters
    versions: np.ndarray  # per datagram: 9 or 10
    times: np.ndarray  # per datagram, as Part.time
    secs: np.ndarray  # unix seconds of its header
    uptime: np.ndarray  # its sysUpTime (0 for IPFIX)
    first: np.ndarray  # its timestamp source is first-switched
    decap: np.ndarray  # its decapsulation mode
    counter: np.ndarray  # exporter index * 2 + (IPFIX): which datagram counter it adds to
    refresh: list[tuple[Any, ...]]  # template sets: (datagram, payload, start, end, exporter,
    # domain, version)
    rdg: np.ndarray  # the datagram of each template set


class Pending(NamedTuple):
    receive_ns: int
    key: TemplateKey
    version: int
    body: bytes
    time: int
    unix_secs: int
    uptime_ms: int
    first_switched: bool
    decap: int
    token: Any = None  # (Kafka partition, offset) of the record holding it


class Group:
    __slots__ = ("compiled", "domain", "exporter", "frames", "parts", "version")

    def __init__(self, compiled: Compiled, exporter: bytes, domain: int, version: int) -> None:
        self.compiled = compiled
        self.exporter = exporter
        self.domain = domain
        self.version = version
        self.parts: list[tuple[Any, ...]] = []  # Part fields, as plain tuples on the fast path
        self.frames: list[bytes] = []  # dataLinkFrameSection of each record, if any


class NetflowDecoder:
    def __init__(
        self, counters: Counters, stats: Stats, store: TemplateStore, config: DecoderConfig
    ) -> None:
        self.c = counters
        self.stats = stats
        self.store = store
        self.config = config
        # announced templates; compiled (a dtype) on first data use, not on announcement
        self.templates: dict[TemplateKey, Template] = {}
        # (exporter, domain, options?) -> its template keys: what a "withdraw all" removes,
        # found without a pass over the exporter's other templates
        self._kinds: dict[tuple[bytes, int, bool], dict[TemplateKey, None]] = {}
        # raw field list of a data template -> its Template, per version: a refresh or a
        # flood of one field list costs a dict lookup per template, not a parse
        self._parsed: dict[int, dict[bytes, Template]] = {9: {}, 10: {}}
        self._parsed_fields = 0
        self.rates: dict[tuple[bytes, int], OrderedDict[int, int]] = {}
        self.pending: dict[bytes, deque[Pending]] = {}
        self.pending_bytes: dict[bytes, int] = {}
        self._pending_keys: dict[TemplateKey, int] = {}  # template key -> sets kept for it
        self._new_keys: set[TemplateKey] = set()  # kept since the last store lookup
        self._next_retry = 0.0  # monotonic time of the next lookup of every kept key
        self.groups: dict[tuple[Any, ...], Group] = {}
        # exporter -> its template keys, oldest first; exporters least recently seen first
        self.exporters: OrderedDict[bytes, OrderedDict[TemplateKey, None]] = OrderedDict()
        self._loaded_rates: set[bytes] = set()  # exporters whose sampling rates were loaded
        self._domains: dict[bytes, set[int]] = {}  # exporter -> domains with sampling rates
        self._misses: dict[TemplateKey, float] = {}  # not in the store, until (monotonic)
        self._defaults: dict[tuple[bytes, int], int] = {}  # default sampling rate cache
        # key -> (append to the group's parts, record length, default rate)
        self._fasts: dict[TemplateKey, tuple[Any, int, int]] = {}
        # store writes of this flush, sent in one round trip by sync_store()
        self._dirty: dict[TemplateKey, Template | None] = {}
        self._dirty_rates: dict[tuple[bytes, int], dict[int, int]] = {}
        self._touched: dict[bytes, float] = {}  # exporter -> last TTL refresh (monotonic)
        self._touch: set[bytes] = set()
        self.token: Any = None  # where the datagram being walked came from (Kafka offset)
        self._gen = 0  # bumped at every template change: which data sets walk_many may take

    # --- walking datagrams -------------------------------------------------------------------

    def walk(self, env: Envelope, exporter: bytes, decap: int = DECAP_NONE) -> None:
        """Read one datagram's headers; never raises on malformed input (counts it)."""
        buf = env.payload
        end = len(buf)
        if end < 4:
            self.c.error(exporter, m.TRUNCATED)
            return
        version = (buf[0] << 8) | buf[1]
        ts = env.timestamp_source
        if version == 9:  # the two header layouts, then the common set walk
            if end < 20:
                self.c.error(exporter, m.TRUNCATED)
                return
            _, _, uptime, secs, _, domain = _V9.unpack_from(buf)
            p = 20
        elif version == 10:
            if end < 16:
                self.c.error(exporter, m.TRUNCATED)
                return
            _, length, secs, _, domain = _IPFIX.unpack_from(buf)
            uptime = 0
            if length > end or length < 16:
                self.c.error(exporter, m.TRUNCATED if length > end else m.BAD_LENGTH)
                return
            end = length
            p = 16
        elif version == 5:
            self._walk_v5(env, exporter, decap)
            return
        else:
            self.c.error(exporter, m.UNKNOWN_VERSION)
            return
        time = secs if ts == _TS_PACKET else env.receive_time_ns // NS
        first = ts == _TS_FIRST_SWITCHED
        tset, oset = (0, 1) if version == 9 else (2, 3)
        self.c.datagrams[(exporter, version)] += 1
        fasts = self._fasts
        while p + 4 <= end:
            sid, slen = _HH.unpack_from(buf, p)
            if slen < 4 or p + slen > end:
                self.c.error(exporter, m.BAD_LENGTH if slen < 4 else m.TRUNCATED)
                return
            if sid >= 256:
                key = (exporter, domain, sid)
                fast = fasts.get(key)
                if fast is None:
                    fast = self._fast(key, version)
                if fast is not None:  # the common case, kept short
                    append, reclen, rate = fast
                    n = (slen - 4) // reclen
                    if n:
                        append(
                            (
                                buf[p + 4 : p + 4 + n * reclen],
                                n,
                                time,
                                secs,
                                uptime,
                                rate,
                                first,
                                decap,
                            )
                        )
                    p += slen
                    continue
                body = buf[p + 4 : p + slen]
                template = self.templates.get(key)
                if template is None:  # kept; looked up in the store at the flush, in one go
                    self._keep(
                        Pending(
                            env.receive_time_ns,
                            key,
                            version,
                            body,
                            time,
                            secs,
                            uptime,
                            first,
                            decap,
                            self.token,
                        )  # fmt: skip
                    )
                else:
                    self._data(key, template, version, body, time, secs, uptime, first, decap)
            elif sid == tset:
                self._templates(buf, p + 4, p + slen, exporter, domain, version, False)
            elif sid == oset:
                self._templates(buf, p + 4, p + slen, exporter, domain, version, True)
            p += slen
        if p != end:  # bytes after the last set: a cut datagram
            self.c.error(exporter, m.TRUNCATED)

    def walk_many(
        self,
        envs: Sequence[Envelope],
        decaps: Sequence[int] | int,
        walk_one: Callable[[int], None],
    ) -> None:
        """Walk NetFlow datagrams (queue order) as `walk()` one after the other would.

        Datagrams whose sets are all data sets of known fixed-length templates (the common
        case) are walked in NumPy, set by set for all of them at once; the others (template or
        options sets, unknown templates, malformed, v5, more than VECTOR_SETS sets) go to
        `walk_one(i)`, the Python walk, in order: the simple datagrams before one are added
        to their groups before it is walked, so that templates take effect in order and
        rows, counters and pending sets come out as from the Python walk. Hot path."""
        count = len(envs)
        if count < VECTOR_MIN:
            for i in range(count):
                walk_one(i)
            return
        payloads = [e.payload for e in envs]
        exporters = [e.exporter_address for e in envs]
        if exporters.count(exporters[0]) == count:  # one exporter: the common case
            names, exid = [exporters[0]], np.zeros(count, dtype=np.int64)
        else:
            ids: dict[bytes, int] = {}
            exid = np.array([ids.setdefault(x, len(ids)) for x in exporters], dtype=np.int64)
            names = list(ids)
            if len(names) >= 1 << 15:  # the key code below has 15 bits for them
                for i in range(count):
                    walk_one(i)
                return
        lens = np.fromiter(map(len, payloads), dtype=np.int64, count=count)
        starts = np.zeros(count, dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        payloads.append(_WALK_PAD)
        u = np.frombuffer(b"".join(payloads), dtype=np.uint8)
        head = _spans(u, 20)[starts].view(">u4").reshape(count, 5).astype(np.int64)
        version = head[:, 0] >> 16
        v9 = version == 9
        length = head[:, 0] & 0xFFFF
        simple = (v9 & (lens >= 20)) | (
            (version == 10) & (lens >= 16) & (length >= 16) & (length <= lens)
        )
        end = starts + np.where(v9, lens, length)
        pos = starts + np.where(v9, 20, 16)
        steps: list[tuple[np.ndarray, ...]] = []
        tsteps: list[tuple[np.ndarray, ...]] = []  # template sets (not options): refreshes?
        tset = np.where(v9, 0, 2)
        act = np.flatnonzero(simple)
        for _ in range(VECTOR_SETS):
            if act.size < VECTOR_MIN:
                break
            p, e = pos[act], end[act]
            walking = p + 4 <= e
            if not walking.all():
                act, p, e = act[walking], p[walking], e[walking]
            hh = _spans(u, 4)[p].view(">u4").astype(np.int64)
            sid, slen = hh >> 16, hh & 0xFFFF
            data = sid >= 256
            tmpl = sid == tset[act]
            good = (slen >= 4) & (p + slen <= e) & (data | tmpl)
            if not good.all():
                simple[act[~good]] = False  # the Python walk counts what is wrong
                act, p, sid, slen = act[good], p[good], sid[good], slen[good]
                data, tmpl = data[good], tmpl[good]
            if tmpl.any():
                tsteps.append((act[tmpl], p[tmpl], slen[tmpl]))
                steps.append((act[data], p[data], sid[data], slen[data]))
            else:
                steps.append((act, p, sid, slen))
            pos[act] = p + slen
        simple &= pos == end  # still walking (many sets), or bytes after the last set
        if steps:
            dg, off, sid, slen = (np.concatenate(col) for col in zip(*steps, strict=True))
            keep = simple[dg]
            order = np.flatnonzero(keep)
            order = order[np.argsort(dg[order], kind="stable")]  # queue order, then set order
            dg, off, sid, slen = dg[order], off[order], sid[order], slen[order]
        else:
            dg = off = sid = slen = np.zeros(0, dtype=np.int64)
        # template sets: (datagram, payload, start, end, exporter, domain, version)
        refresh: list[tuple[Any, ...]] = []
        domain = np.where(v9, head[:, 4], head[:, 3])
        versions = np.where(v9, 9, 10)
        if tsteps:
            tdg, toff, tlen = (np.concatenate(col) for col in zip(*tsteps, strict=True))
            keep = simple[tdg]
            order = np.flatnonzero(keep)
            order = order[np.argsort(tdg[order], kind="stable")]
            tdg = tdg[order]
            begin = toff[order] - starts[tdg] + 4
            refresh = [
                (d, payloads[d], b, b + n - 4, names[x], dom, ver)
                for d, b, n, x, dom, ver in zip(
                    tdg.tolist(), begin.tolist(), tlen[order].tolist(), exid[tdg].tolist(),
                    domain[tdg].tolist(), versions[tdg].tolist(), strict=True,
                )
            ]  # fmt: skip
        code = (exid[dg] << 48) | (domain[dg] << 16) | sid
        ucodes, kid = _unique_inverse(code)
        if len(ucodes) * VECTOR_SETS_PER_KEY > len(dg):  # many templates of few sets each
            for i in range(count):
                walk_one(i)
            return
        keys: list[TemplateKey] = [
            (names[c >> 48], (c >> 16) & 0xFFFFFFFF, c & 0xFFFF) for c in ucodes.tolist()
        ]
        # what each datagram's header gives its sets (walk()'s time, secs, uptime, first)
        secs = np.where(v9, head[:, 2], head[:, 1])
        sources = [e.timestamp_source for e in envs]
        if sources.count(sources[0]) == count:
            source: Any = sources[0]
        else:
            source = np.array([int(x) for x in sources], dtype=np.int64)
        packet = source == _TS_PACKET
        if packet is True:
            times = secs
        else:
            received = np.array([e.receive_time_ns for e in envs], dtype=np.int64) // NS
            times = received if packet is False else np.where(packet, secs, received)
        flush = _Flush(
            u,
            dg,
            off,
            slen,
            kid,
            keys,
            names,
            versions,
            times,
            secs,
            np.where(v9, head[:, 1], 0),
            np.broadcast_to(source == _TS_FIRST_SWITCHED, (count,)),
            np.broadcast_to(np.asarray(decaps, dtype=np.uint8), (count,)),
            exid * 2 + ~v9,
            refresh,
            np.array([r[0] for r in refresh], dtype=np.int64),
        )
        gen, redo = -1, 0
        i = 0
        while i < count:
            if self._gen != gen:  # templates changed: which datagrams are simple again
                redo += 1
                if redo > VECTOR_REDO:
                    for j in range(i, count):
                        walk_one(j)
                    return
                gen = self._gen
                fast = np.array([self._known_fast(key) for key in keys], dtype=bool)
                ok = simple.copy()
                ok[dg[~fast[kid]]] = False
                for d, buf, start, stop, exp, dom, ver in refresh:  # changing nothing: no cut
                    if d >= i and ok[d]:
                        ok[d] = self._unchanged(buf, start, stop, exp, dom, ver)
                ok[:i] = True
                cut = np.flatnonzero(~ok)
                c = 0
            j = int(cut[c]) if c < len(cut) else count
            if j > i and not self._walk_simple(i, j, flush):
                for k in range(i, j):  # too few datagrams or sets per template for NumPy
                    walk_one(k)
            if j < count:
                walk_one(j)
                c += 1
            i = j + 1

    def _unchanged(
        self, buf: bytes, p: int, end: int, exporter: bytes, domain: int, version: int
    ) -> bool:
        """Whether a template set only repeats templates known as they are (what `_templates`
        then does is refresh the exporter's expiry: nothing a data set depends on)."""
        parsed = self._parsed[version]
        templates = self.templates
        while p + 4 <= end:
            tid, count = _HH.unpack_from(buf, p)
            p += 4
            if tid < 256 or not count or p + 4 * count > end:
                return False
            known = parsed.get(buf[p : p + 4 * count])
            if known is None or templates.get((exporter, domain, tid)) != known:
                return False
            p += 4 * count
        return True

    def _known_fast(self, key: TemplateKey) -> bool:
        """Whether the sets of `key` take the short path of walk() (see `_fast`), no side
        effect (groups are made in the order walk() makes them)."""
        template = self.templates.get(key)
        return template is not None and compile_template(template).fast

    def _walk_simple(self, i: int, j: int, flush: _Flush) -> bool:
        """Datagrams i..j-1 of walk_many, all simple: their sets to their groups. False (and
        nothing done) when the Python walk of them is cheaper."""
        if j - i < VECTOR_RUN:
            return False
        u, dg, off, slen, kid, keys, names, versions, *headers, refresh, rdg = flush
        times, secs, uptime, first, decap, counter = headers
        a, b = np.searchsorted(dg, (i, j))
        kids = kid[a:b]
        single = a == b or (kids[0] == kids[-1] and (kids == kids[0]).all())
        if not single and np.count_nonzero(np.bincount(kids)) * VECTOR_SETS_PER_KEY > b - a:
            return False
        if len(rdg):  # the template refreshes among them, in order (they change nothing)
            ra, rb = np.searchsorted(rdg, (i, j))
            for _, buf, start, stop, exp, dom, ver in refresh[ra:rb]:
                self._templates(buf, start, stop, exp, dom, ver, False)
        code = counter[i:j]
        datagrams = self.c.datagrams
        if code[0] == code[-1] and (code == code[0]).all():
            c = int(code[0])
            datagrams[(names[c >> 1], 10 if c & 1 else 9)] += j - i
        else:
            n = np.bincount(code)  # small: two per exporter of the flush
            for c in np.flatnonzero(n).tolist():
                datagrams[(names[c >> 1], 10 if c & 1 else 9)] += int(n[c])
        if a == b:
            return True
        if single:
            runs = [(int(kids[0]), np.arange(a, b))]
        else:  # several templates: each in the order walk() first meets it
            order = np.argsort(kids, kind="stable")
            sk = kids[order]
            bounds = np.flatnonzero(sk[1:] != sk[:-1]) + 1
            parts = np.split(order + a, bounds)
            parts.sort(key=lambda rows: int(rows[0]))
            runs = [(int(kid[rows[0]]), rows) for rows in parts]
        for k, rows in runs:
            key = keys[k]
            fast = self._fasts.get(key)
            if fast is None:
                fast = self._fast(key, int(versions[dg[rows[0]]]))
                if fast is None:  # not fast after all: cannot happen (same test)
                    raise RuntimeError(f"template {key[2]} is not a fixed-length one")
            append, reclen, rate = fast
            n = (slen[rows] - 4) // reclen
            if not n.all():
                rows, n = rows[n > 0], n[n > 0]
                if not len(rows):
                    continue
            data = off[rows] + 4
            width = int(n[0]) * reclen
            if (n == n[0]).all():  # sets of as many records each: one gather of whole sets
                recs = _spans(u, width)[data]
            else:
                total = int(n.sum())
                rec = np.repeat(data - (np.cumsum(n) - n) * reclen, n)
                recs = _spans(u, reclen)[rec + np.arange(total) * reclen]
            d = dg[rows]
            append(
                Run(
                    recs,
                    n,
                    times[d],
                    secs[d],
                    uptime[d],
                    np.full(len(rows), rate, dtype=np.uint64),
                    first[d],
                    decap[d],
                )
            )
        return True

    def _walk_v5(self, env: Envelope, exporter: bytes, decap: int) -> None:
        buf = env.payload
        if len(buf) < 24:
            self.c.error(exporter, m.TRUNCATED)
            return
        _, count, uptime, secs, _, _, _, _, sampling = _V5.unpack_from(buf)
        n = min(count, (len(buf) - 24) // 48)
        if n < count:
            self.c.error(exporter, m.TRUNCATED)
        self.c.datagram(exporter, 5)
        if n <= 0:
            return
        ts = env.timestamp_source
        time = secs if ts == TimestampSource.NETFLOW_PACKET else env.receive_time_ns // NS
        gkey = (exporter, -5)
        group = self.groups.get(gkey)
        if group is None:
            group = self.groups[gkey] = Group(V5_COMPILED, exporter, 0, 5)
        first = ts == TimestampSource.NETFLOW_FIRST_SWITCHED
        group.parts.append(
            # interval 0: not sampled, every packet counted (a rate of 1, not unknown)
            Part(
                buf[24 : 24 + 48 * n], n, time, secs, uptime, (sampling & 0x3FFF) or 1, first, decap
            )
        )

    def _data(
        self,
        key: TemplateKey,
        template: Template,
        version: int,
        body: bytes,
        time: int,
        secs: int,
        uptime: int,
        first: bool,
        decap: int,
    ) -> None:
        comp = compile_template(template)
        exporter, domain, _ = key
        frames: list[bytes] = []
        if comp.variable:
            data, n, comp = self._flatten_variable(template, body, exporter, frames)
        else:
            n = len(body) // comp.record_length if comp.record_length else 0
            data = body if n * comp.record_length == len(body) else body[: n * comp.record_length]
        if n == 0:
            return
        if template.is_options:
            self._options(exporter, domain, comp, data, n)
            return
        group = self.groups.get((key, comp))
        if group is None:
            group = self._group(key, comp, version)
        rate = self._defaults.get((exporter, domain))
        if rate is None:
            rate = self._default_rate(exporter, domain)
        group.parts.append(Part(data, n, time, secs, uptime, rate, first, decap))
        if frames:
            group.frames.extend(frames)

    def _fast(self, key: TemplateKey, version: int) -> tuple[Any, int, int] | None:
        """(append to the group's parts, record length, default rate) for sets of a known
        fixed-length data template.

        Cached until the next build, template change or sampling change."""
        template = self.templates.get(key)
        if template is None:
            return None
        comp = compile_template(template)  # cached by field list; first data use compiles
        if not comp.fast:
            return None
        group = self.groups.get((key, comp))
        if group is None:
            group = self._group(key, comp, version)
        rate = self._defaults.get((key[0], key[1]))
        if rate is None:
            rate = self._default_rate(key[0], key[1])
        fast = self._fasts[key] = (group.parts.append, comp.record_length, rate)
        return fast

    def _group(self, key: TemplateKey, comp: Compiled, version: int) -> Group:
        group = self.groups[(key, comp)] = Group(comp, key[0], key[1], version)
        return group

    def _default_rate(self, exporter: bytes, domain: int) -> int:
        """Sampling rate for records that do not name their sampler (0: unknown)."""
        rates = self.rates.get((exporter, domain))
        if rates is None:
            rates = self._load_rates(exporter, domain)
        rate = rates.get(0, 0) or (next(iter(rates.values())) if len(rates) == 1 else 0)
        self._defaults[(exporter, domain)] = rate
        return rate

    def _flatten_variable(
        self, template: Template, body: bytes, exporter: bytes, frames: list[bytes]
    ) -> tuple[bytes, int, Compiled]:
        """Records with variable-length fields, copied without them (the slow path)."""
        fixed = compile_template(strip_variable(template))
        out = []
        p, end = 0, len(body)
        minimum = fixed.record_length + sum(1 for f in template.fields if f[1] == VARIABLE)
        want_frame = any(f[0] == DATALINK_FRAME_SECTION and f[2] == 0 for f in template.fields)
        while end - p >= max(minimum, 1):
            rec = bytearray()
            frame = b""
            for ie, length, pen in template.fields:
                if length == VARIABLE:
                    if p >= end:
                        break
                    length = body[p]
                    p += 1
                    if length == 255:
                        if p + 2 > end:
                            break
                        length = _H.unpack_from(body, p)[0]
                        p += 2
                    if ie == DATALINK_FRAME_SECTION and pen == 0:
                        frame = body[p : p + length]
                    p += length
                else:
                    rec += body[p : p + length]
                    p += length
                if p > end:
                    break
            else:
                out.append(bytes(rec) or b"\0")  # itemsize is at least 1
                if want_frame:
                    frames.append(frame)
                continue
            self.c.error(exporter, m.TRUNCATED)
            break
        return b"".join(out), len(out), fixed

    def _templates(
        self, buf: bytes, p: int, end: int, exporter: bytes, domain: int, version: int, opt: bool
    ) -> None:
        parsed = self._parsed[version]
        if self._parsed_fields > PARSED_MAX_FIELDS:
            self._parsed = {9: {}, 10: {}}
            self._parsed_fields = 0
            parsed = self._parsed[version]
        while p + 4 <= end:
            raw = None
            if version == 9:
                if opt:
                    if p + 6 > end:
                        return
                    tid, scope_len, opt_len = _HHH.unpack_from(buf, p)
                    p += 6
                    total = scope_len + opt_len
                    if total % 4 or p + total > end:
                        self.c.error(exporter, m.BAD_TEMPLATE)
                        return
                    pairs = struct.unpack_from(f"!{total // 2}H", buf, p)
                    p += total
                    fields = tuple((pairs[i], pairs[i + 1], 0) for i in range(0, len(pairs), 2))
                    scope = scope_len // 4
                else:
                    tid, count = _HH.unpack_from(buf, p)
                    p += 4
                    if p + 4 * count > end or count > self.config.max_template_fields:
                        self.c.error(exporter, m.BAD_TEMPLATE)
                        return
                    raw = buf[p : p + 4 * count]
                    p += 4 * count
                    known = parsed.get(raw)
                    if known is not None and tid >= 256:
                        self._set_template((exporter, domain, tid), known, version)
                        continue
                    it = iter(_halfwords(count).unpack(raw))
                    fields = tuple(zip(it, it, repeat(0)))
                    scope = -1
            else:
                if opt:
                    if p + 6 > end:
                        return
                    tid, count, scope = _HHH.unpack_from(buf, p)
                    p += 6
                else:
                    tid, count = _HH.unpack_from(buf, p)
                    p += 4
                    scope = -1
                if count == 0:
                    self._withdraw(exporter, domain, tid, opt)
                    width = 6 if opt else 4
                    entry = buf[p - width : p]
                    while p + width <= end and buf[p : p + width] == entry:
                        p += width  # the same withdrawal again changes nothing
                    continue
                if count > self.config.max_template_fields:
                    self.c.error(exporter, m.BAD_TEMPLATE)
                    return
                pairs = None
                if p + 4 * count <= end:  # the common case: no enterprise field, one unpack
                    if not opt:
                        raw = buf[p : p + 4 * count]
                        known = parsed.get(raw)
                        if known is not None and tid >= 256:
                            p += 4 * count
                            self._set_template((exporter, domain, tid), known, version)
                            continue
                    pairs = _halfwords(count).unpack_from(buf, p)
                    if max(pairs[0::2]) >= 0x8000:
                        pairs = None
                if pairs is not None:
                    lengths = pairs[1::2]
                    it = iter(pairs)
                    fields = tuple(zip(it, it, repeat(0)))
                    p += 4 * count
                    if tid < 256:
                        self.c.error(exporter, m.BAD_TEMPLATE)
                        return
                    if 0 in lengths:
                        bounded = self._bounded(fields, exporter)
                        if bounded is None:
                            return
                        fields = bounded
                    template = Template(fields, scope)
                    if raw is not None:
                        parsed[raw] = template
                        self._parsed_fields += count
                    self._set_template((exporter, domain, tid), template, version)
                    continue
                raw = None  # enterprise fields: parsed one by one, not cached
                flist = []
                for _ in range(count):
                    if p + 4 > end:
                        self.c.error(exporter, m.BAD_TEMPLATE)
                        return
                    ie, length = _HH.unpack_from(buf, p)
                    p += 4
                    pen = 0
                    if ie & 0x8000:
                        if p + 4 > end:
                            self.c.error(exporter, m.BAD_TEMPLATE)
                            return
                        pen = _I.unpack_from(buf, p)[0]
                        p += 4
                        ie &= 0x7FFF
                    flist.append((ie, length, pen))
                fields = tuple(flist)
            if tid < 256 or not fields:
                self.c.error(exporter, m.BAD_TEMPLATE)
                return
            bounded = self._bounded(fields, exporter)
            if bounded is None:
                return
            template = Template(bounded, scope)
            if raw is not None:
                parsed[raw] = template
                self._parsed_fields += len(bounded)
            self._set_template((exporter, domain, tid), template, version)

    def _bounded(self, fields: tuple[Field, ...], exporter: bytes) -> tuple[Field, ...] | None:
        """Fields without the zero-length ones (they take no bytes), or None if the template
        has too many fields or too many zero-length ones (counted as bad_template)."""
        cfg = self.config
        zero = sum(1 for f in fields if f[1] == 0)
        if len(fields) > cfg.max_template_fields or zero > cfg.max_zero_length_fields:
            self.c.error(exporter, m.BAD_TEMPLATE)
            return None
        if zero:
            fields = tuple(f for f in fields if f[1] != 0)
            if not fields:
                self.c.error(exporter, m.BAD_TEMPLATE)
                return None
        return fields

    def _set_template(self, key: TemplateKey, template: Template, version: int) -> None:
        old = self.templates.get(key)
        if old is not None and old == template:
            self._refresh(key[0])
            return  # a refresh of what we know: the common case, nothing else to do
        self._put(key, template)  # a new or changed template: (a flood) kept short
        if self._misses:
            self._misses.pop(key, None)
        self._dirty[key] = template
        exporter = key[0]
        self._touch.add(exporter)
        self.c.template_update(exporter, len(self.exporters[exporter]))
        if key in self._pending_keys:
            self._drain(key)

    def _put(self, key: TemplateKey, template: Template) -> None:
        """Keep a template, evicting the exporter's oldest past the per-exporter bound."""
        keys = self.exporters.get(key[0])
        if keys is None:
            keys = self._seen(key[0])
        else:
            self.exporters.move_to_end(key[0])  # _seen's common case, without the call
        old = self.templates.get(key)
        if old is None:
            keys[key] = None
            while len(keys) > self.config.max_templates_per_exporter:
                oldest, _ = keys.popitem(last=False)
                self._drop(oldest)
                self._dirty[oldest] = None  # the store keeps no more than we do
                self.c.misc[(m.TEMPLATES_EVICTED, key[0])] += 1
        elif old.is_options != template.is_options:
            self._drop(key)
        self.templates[key] = template
        self._gen += 1
        self._kinds.setdefault((key[0], key[1], template.is_options), {})[key] = None
        self._fasts.clear()

    def _drop(self, key: TemplateKey) -> None:
        """Forget a template (not its place in the exporter's key order)."""
        template = self.templates.pop(key, None)
        if template is not None:
            self._gen += 1
            kind = (key[0], key[1], template.is_options)
            same = self._kinds.get(kind)
            if same is not None:
                same.pop(key, None)
                if not same:
                    del self._kinds[kind]

    def _seen(self, exporter: bytes) -> OrderedDict[TemplateKey, None]:
        """The exporter's template keys; marks it recently seen, evicting the least recently
        seen exporter (all its state) past the per-outlet bound."""
        keys = self.exporters.get(exporter)
        if keys is None:
            keys = self.exporters[exporter] = OrderedDict()
            while len(self.exporters) > self.config.max_exporters:
                self._evict(next(iter(self.exporters)))
        else:
            self.exporters.move_to_end(exporter)
        return keys

    def _evict(self, exporter: bytes) -> None:
        keys = self.exporters.pop(exporter, OrderedDict())
        for key in keys:
            self._drop(key)
        for domain in self._domains.pop(exporter, ()):
            self.rates.pop((exporter, domain), None)
            self._defaults.pop((exporter, domain), None)
        self._loaded_rates.discard(exporter)
        queue = self.pending.pop(exporter, None)
        if queue:
            for item in queue:
                self._unkeep(item.key)
                self.c.expired(exporter)
        self.pending_bytes.pop(exporter, None)
        self._touched.pop(exporter, None)
        self._fasts.clear()
        self.c.plain[m.EXPORTERS_EVICTED] += 1

    def _refresh(self, exporter: bytes) -> None:
        """An unchanged template refresh: push the exporter's store keys' expiry now and then."""
        self._seen(exporter)
        last = self._touched.get(exporter)
        now = monotonic()
        if last is None or now - last > self.config.template_store_ttl / 10:
            self._touched[exporter] = now
            self._touch.add(exporter)

    def _withdraw(self, exporter: bytes, domain: int, tid: int, opt: bool) -> None:
        keys = self._seen(exporter)
        if tid in (2, 3):  # all templates (2) or all options templates (3) of the domain
            gone = list(self._kinds.get((exporter, domain, tid == 3), ()))
            if not gone:  # nothing of that kind: a repeated withdrawal costs a lookup
                return
        else:
            gone = [(exporter, domain, tid)]
        self._fasts.clear()
        for key in gone:  # from the store too: another outlet may have written it
            self._drop(key)
            keys.pop(key, None)
            self._misses.pop(key, None)
            self._dirty[key] = None
        self.c.template_update(exporter, len(keys), changed=False)

    def _loaded(self, key: TemplateKey, template: Template) -> None:
        self._put(key, template)
        self.c.template_update(key[0], len(self.exporters[key[0]]), changed=False)

    def _load_rates(self, exporter: bytes, domain: int) -> OrderedDict[int, int]:
        """Sampling rates of (exporter, domain): all domains of an exporter are read from the
        store at once, the first time the exporter is seen."""
        if exporter not in self._loaded_rates:
            self._loaded_rates.add(exporter)
            try:
                stored = self.store.load_samplings(exporter)
            except Exception as exc:
                self._store_error("load sampling", exc)
                stored = {}
            for dom, table in stored.items():
                self.rates.setdefault((exporter, dom), OrderedDict()).update(table)
                self._domains.setdefault(exporter, set()).add(dom)
        rates = self.rates.setdefault((exporter, domain), OrderedDict())
        self._domains.setdefault(exporter, set()).add(domain)
        self._defaults.pop((exporter, domain), None)
        self._fasts.clear()
        return rates

    def sync_store(self) -> None:
        """Send this flush's template and sampling changes, and expiry refreshes, at once."""
        if not (self._dirty or self._dirty_rates or self._touch):
            return
        dirty, rates, touch = self._dirty, self._dirty_rates, self._touch
        self._dirty, self._dirty_rates, self._touch = {}, {}, set()
        try:
            self.store.save_batch(dirty, rates, touch, self.config.template_store_ttl)
        except Exception as exc:  # a store outage must not stop decoding
            self._store_error("save templates", exc)

    def _store_error(self, what: str, exc: Exception) -> None:
        self.stats.inc(m.STORE_ERRORS)
        log.warning("template store: %s failed (%s); continuing with local state", what, exc)

    def _options(self, exporter: bytes, domain: int, comp: Compiled, data: bytes, n: int) -> None:
        arr = np.frombuffer(data, dtype=comp.dtype, count=n)
        rate, sampler = comp.sampling(arr)
        if rate is None:
            return
        rates = self.rates.get((exporter, domain))
        if rates is None:
            rates = self._load_rates(exporter, domain)
        ids = sampler.tolist() if sampler is not None else [0] * n
        changed: dict[int, int] = {}  # sampler -> new rate, 0: evicted (deleted from the store)
        bound = self.config.max_samplers_per_exporter
        evicted = 0
        for sid, r in zip(ids, rate.tolist(), strict=True):
            if r and rates.get(sid) != r:
                if sid not in rates and len(rates) >= bound:
                    changed[rates.popitem(last=False)[0]] = 0  # the oldest, O(1)
                    evicted += 1
                rates[sid] = changed[sid] = r
        if evicted:
            self.c.misc[(m.SAMPLERS_EVICTED, exporter)] += evicted
        if changed:
            self._defaults.pop((exporter, domain), None)
            self._fasts.clear()
            self._dirty_rates.setdefault((exporter, domain), {}).update(changed)

    # --- data before template ----------------------------------------------------------------

    def _keep(self, item: Pending) -> None:
        exporter = item.key[0]
        cfg = self.config
        queue = self.pending.get(exporter)
        if queue is None:
            self._seen(exporter)  # exporters with state are bounded, evicted least recent
            queue = self.pending[exporter] = deque()
            self.pending_bytes[exporter] = 0
        queue.append(item)
        self.pending_bytes[exporter] += len(item.body)
        count = self._pending_keys.get(item.key, 0)
        if not count:
            self._new_keys.add(item.key)
        self._pending_keys[item.key] = count + 1
        self.expire(item.receive_ns, exporter)
        while queue and (
            len(queue) > cfg.pending_max_flowsets
            or self.pending_bytes[exporter] > cfg.pending_max_bytes
        ):
            self._drop_oldest(exporter)

    def _drop_oldest(self, exporter: bytes) -> None:
        old = self.pending[exporter].popleft()
        self.pending_bytes[exporter] -= len(old.body)
        self._unkeep(old.key)
        self.c.expired(exporter)

    def _unkeep(self, key: TemplateKey, count: int = 1) -> None:
        left = self._pending_keys.get(key, 0) - count
        if left > 0:
            self._pending_keys[key] = left
        else:
            self._pending_keys.pop(key, None)
            self._new_keys.discard(key)

    def expire(self, now_ns: int, exporter: bytes | None = None) -> None:
        """Drop kept flowsets older than the age bound (relative to `now_ns`)."""
        limit = now_ns - int(self.config.pending_max_age * NS)
        for exp in [exporter] if exporter is not None else list(self.pending):
            queue = self.pending.get(exp)
            while queue and queue[0].receive_ns < limit:
                self._drop_oldest(exp)

    def retry_pending(self) -> None:
        """Look kept sets' templates up in the store, in one round trip: another outlet may
        have received them. A miss is not asked again for `template-miss-retry` seconds."""
        now = monotonic()
        misses = self._misses
        if now >= self._next_retry:  # now and then, every kept key; else only new ones
            candidates: Any = list(self._pending_keys)
            self._next_retry = now + self.config.template_miss_retry
        else:
            candidates = list(self._new_keys)
        self._new_keys.clear()
        keys = [
            key
            for key in candidates
            if key not in self.templates
            and misses.get(key, 0.0) <= now
            and not (key in self._dirty and self._dirty[key] is None)  # withdrawn just now
        ]
        if not keys:
            return
        try:
            found = self.store.load_templates(keys)
        except Exception as exc:
            self._store_error("load template", exc)
            found = [None] * len(keys)
        if len(misses) > 65536:
            misses.clear()
        until = now + self.config.template_miss_retry
        for key, template in zip(keys, found, strict=True):
            if template is None:
                misses[key] = until
            else:
                misses.pop(key, None)
                self._loaded(key, template)
                self._drain(key)

    def held(self) -> dict[Any, int]:
        """Per partition, the first Kafka offset of data still waiting for its template
        (tokens given as (partition, offset) to `Decoder.feed`): commit no further."""
        out: dict[Any, int] = {}
        for queue in self.pending.values():
            for item in queue:
                if item.token is not None:
                    part, offset = item.token
                    if offset < out.get(part, offset + 1):
                        out[part] = offset
        return out

    def pending_count(self) -> int:
        return sum(len(q) for q in self.pending.values())

    def _drain(self, key: TemplateKey) -> None:
        queue = self.pending.get(key[0])
        if not queue or key not in self._pending_keys:
            return
        self._unkeep(key, self._pending_keys[key])
        template = self.templates[key]
        keep: deque[Pending] = deque()
        for item in queue:
            if item.key == key:
                self.pending_bytes[key[0]] -= len(item.body)
                self.c.pending_decoded(key[0])
                self._data(
                    key, template, item.version, item.body, item.time, item.unix_secs,
                    item.uptime_ms, item.first_switched, item.decap,
                )  # fmt: skip
            else:
                keep.append(item)
        self.pending[key[0]] = keep

    # --- decoding records --------------------------------------------------------------------

    def build(self) -> list[Chunk]:
        """Decode every record kept since the last call, one NumPy pass per template. Hot path."""
        chunks: list[Chunk] = []
        groups, self.groups = self.groups, {}
        self._fasts.clear()
        for group in groups.values():
            parts = group.parts
            if not parts:
                continue
            comp = group.compiled
            fields: tuple[Any, ...]
            if type(parts[-1]) is Run or any(type(p) is Run for p in parts):
                data, fields = self._run_fields(parts)
                counts = fields[1]
                total = int(counts.sum())
            elif len(parts) == 1:
                fields = tuple(zip(*parts, strict=True))
                data, total = parts[0][0], parts[0][1]
                counts = None
            else:  # the Part fields as columns (one tuple each), zipped once
                fields = tuple(zip(*parts, strict=True))
                data = b"".join(fields[0])
                counts = np.array(fields[1], dtype=np.int64)
                total = int(counts.sum())
            arr = np.frombuffer(data, dtype=comp.dtype, count=total)
            cols = comp.columns(arr)
            cols["ExporterAddress"] = group.exporter
            cols["TimeReceived"] = self._times(comp, arr, fields, counts)
            cols["SamplingRate"] = self._rates(group, arr, fields, counts)
            decap = self._per_row(fields[7], counts, np.uint8)
            keep = cols.pop("_keep", None)
            if group.frames and len(group.frames) == total:
                frame_decap = (
                    None
                    if np.isscalar(decap) and not decap
                    else np.broadcast_to(np.asarray(decap, dtype=np.uint8), (total,))
                )
                self._merge_frames(comp, cols, group.frames, frame_decap)
                fkeep = cols.pop("_keep_frames", None)
                if fkeep is not None:
                    self._count_dropped(group, ~fkeep)
                    keep = fkeep if keep is None else keep & fkeep
            elif not (np.isscalar(decap) and not decap):
                # decapsulating: only a sampled frame tells the inner packet
                plain = np.broadcast_to(np.asarray(decap) != DECAP_NONE, (total,))
                self._count_dropped(group, plain)
                keep = ~plain if keep is None else keep & ~plain
            rev_cols = cols
            if keep is not None and not keep.all():
                chunks.append(take_rows(total, cols, keep))
            else:
                chunks.append((total, cols))
            flows = chunks[-1][0]
            if comp.reverse:
                rows, rev = comp.reverse_columns(arr, rev_cols)
                if keep is not None:
                    mask = keep[rows]
                    rows, (_, rev) = rows[mask], take_rows(len(mask), rev, mask)
                if len(rows):
                    chunks.append((len(rows), rev))
                    flows += len(rows)
            self.c.flows(group.exporter, group.version, flows)
        return chunks

    def _count_dropped(self, group: Group, dropped: np.ndarray) -> None:
        count = int(np.count_nonzero(dropped))
        if count:
            self.c.error(group.exporter, m.NOT_ENCAPSULATED, count)

    @staticmethod
    def _merge_frames(
        comp: Compiled, cols: dict[str, Any], frames: list[bytes], decap: np.ndarray | None
    ) -> None:
        """Columns parsed from each record's dataLinkFrameSection: they fill what the template
        lacks or left zero (all of it when decapsulating); Bytes is the frame's IP length."""
        fcols, l3len, keep = parse_frames(frames, decap)
        inner = decap != DECAP_NONE if decap is not None else None
        for name, value in fcols.items():
            have = cols.get(name)
            if have is None or name == "MPLSLabels":
                cols[name] = value
            elif value.dtype.kind != "O":
                fill = (np.asarray(have) == 0) if value.dtype.kind != "S" else (
                    np.char.str_len(np.asarray(have)) == 0)  # fmt: skip
                if inner is not None:
                    fill = fill | inner
                cols[name] = np.where(fill, value, have)
        bytes_ = cols.get("Bytes")
        cols["Bytes"] = l3len if bytes_ is None else np.where(l3len > 0, l3len, bytes_)
        if 2 not in comp.kinds and 86 not in comp.kinds:
            cols["Packets"] = 1
        if keep is not None:
            cols["_keep_frames"] = keep

    @staticmethod
    def _run_fields(parts: list[Any]) -> tuple[Any, tuple[Any, ...]]:
        """(records, per-set field arrays) of a group's parts when walk_many gave some."""
        datas: list[Any] = []
        cols: list[list[np.ndarray]] = [[] for _ in _RUN_DTYPES]
        plain: list[tuple[Any, ...]] = []

        def add_plain() -> None:
            if plain:
                fields = tuple(zip(*plain, strict=True))
                datas.extend(fields[0])
                for k in range(1, len(_RUN_DTYPES)):
                    cols[k].append(np.array(fields[k], dtype=_RUN_DTYPES[k]))
                plain.clear()

        for part in parts:
            if type(part) is Run:
                add_plain()
                datas.append(part.data)
                for k in range(1, len(_RUN_DTYPES)):
                    cols[k].append(part[k])
            else:
                plain.append(part)
        add_plain()
        data = datas[0] if len(datas) == 1 else b"".join(datas)
        return data, (None, *(c[0] if len(c) == 1 else np.concatenate(c) for c in cols[1:]))

    @staticmethod
    def _per_row(values: Any, counts: np.ndarray | None, dtype: Any) -> Any:
        if isinstance(values, np.ndarray):  # walk_many's runs: counts is given
            first = values[0]
            if counts is None or (values == first).all():
                return first.item()
            return np.repeat(values.astype(dtype), counts)
        if counts is None or min(values) == max(values):
            return values[0]
        return np.repeat(np.array(values, dtype=dtype), counts)

    def _times(
        self,
        comp: Compiled,
        arr: np.ndarray,
        fields: tuple[tuple[Any, ...], ...],
        counts: np.ndarray | None,
    ) -> Any:
        """TimeReceived per row; `fields`: the Part fields of the group's parts, as columns."""
        base = self._per_row(fields[2], counts, np.uint32)
        field = comp.time_field
        if field is None or not _any(fields[6]):
            return base
        start = comp.uint(arr, field).astype(np.int64)
        if field == 22:  # sysUpTime of the first packet, relative to the header's clock
            secs = self._per_row(fields[3], counts, np.int64)
            uptime = self._per_row(fields[4], counts, np.int64)
            if not _any(fields[4]):  # IPFIX has no sysUpTime in its header
                return base
            rec = np.asarray(secs - ((uptime - start) % (1 << 32)) // 1000, dtype=np.int64)
        elif field == 152:
            rec = start // 1000
        else:
            rec = start
        first = self._per_row(fields[6], counts, np.bool_)
        return np.where(first, rec, base).astype(np.uint32)

    def _rates(
        self,
        group: Group,
        arr: np.ndarray,
        fields: tuple[tuple[Any, ...], ...],
        counts: np.ndarray | None,
    ) -> Any:
        default = self._per_row(fields[5], counts, np.uint64)
        rate, sampler = group.compiled.sampling(arr)
        if sampler is not None:
            table: dict[int, int] = self.rates.get((group.exporter, group.domain)) or {}
            ids, where = np.unique(sampler, return_inverse=True)  # one pass, any sampler count
            known = np.array([table.get(sid, 0) for sid in ids.tolist()], dtype=np.uint64)
            looked = known[where.ravel()]
            rate = looked if rate is None else np.where(rate == 0, looked, rate)
        if rate is None:
            return default
        return np.where(rate == 0, default, rate).astype(np.uint64)
