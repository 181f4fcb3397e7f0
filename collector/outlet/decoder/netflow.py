"""NetFlow v5, v9 and IPFIX: walk datagrams in Python (headers, sets), decode records in NumPy.

`NetflowDecoder.walk()` only reads datagram and set headers and keeps the raw record bytes
per template; `build()` decodes all records of one template at once through its compiled
structured dtype. Template and sampling state is keyed by (exporter, domain, template id).
"""

from __future__ import annotations

import logging
import struct
from collections import deque
from typing import Any, NamedTuple

import numpy as np

from collector.kafka.envelope import Envelope, TimestampSource
from collector.metrics.stats import Stats
from collector.outlet.decoder import metrics as m
from collector.outlet.decoder.batch import Chunk
from collector.outlet.decoder.config import DecoderConfig
from collector.outlet.decoder.counters import Counters
from collector.outlet.decoder.sflow import parse_frames
from collector.outlet.decoder.templates import (
    DATALINK_FRAME_SECTION,
    VARIABLE,
    Compiled,
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

V5_TEMPLATE = Template(
    (
        (8, 4, 0), (12, 4, 0), (15, 4, 0), (10, 2, 0), (14, 2, 0), (2, 4, 0), (1, 4, 0),
        (22, 4, 0), (21, 4, 0), (7, 2, 0), (11, 2, 0), (210, 1, 0), (6, 1, 0), (4, 1, 0),
        (5, 1, 0), (16, 2, 0), (17, 2, 0), (9, 1, 0), (13, 1, 0), (210, 2, 0),
    )
)  # fmt: skip
V5_COMPILED = compile_template(V5_TEMPLATE)
NS = 1_000_000_000


class Part(NamedTuple):
    """Records of one data set: raw bytes and what the datagram header said about them."""

    data: bytes
    n: int
    time: int  # TimeReceived unless the record carries its own start time
    unix_secs: int
    uptime_ms: int
    rate: int  # sampling rate known when the set was read (0: unknown)
    first_switched: bool


class Pending(NamedTuple):
    receive_ns: int
    key: TemplateKey
    version: int
    body: bytes
    time: int
    unix_secs: int
    uptime_ms: int
    first_switched: bool


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
        self.templates: dict[TemplateKey, tuple[Template, Compiled]] = {}
        self.rates: dict[tuple[bytes, int], dict[int, int]] = {}
        self.pending: dict[bytes, deque[Pending]] = {}
        self.pending_bytes: dict[bytes, int] = {}
        self.groups: dict[tuple[Any, ...], Group] = {}
        self._misses: set[TemplateKey] = set()
        self._defaults: dict[tuple[bytes, int], int] = {}  # default sampling rate cache
        self._fasts: dict[TemplateKey, tuple[Group, int, int]] = {}

    # --- walking datagrams -------------------------------------------------------------------

    def walk(self, env: Envelope, exporter: bytes) -> None:
        """Read one datagram's headers; never raises on malformed input (counts it)."""
        buf = env.payload
        end = len(buf)
        if end < 4:
            self.c.error(exporter, m.TRUNCATED)
            return
        version = (buf[0] << 8) | buf[1]
        ts = env.timestamp_source
        if version == 9:
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
            self._walk_v5(env, exporter)
            return
        else:
            self.c.error(exporter, m.UNKNOWN_VERSION)
            return
        time = secs if ts == TimestampSource.NETFLOW_PACKET else env.receive_time_ns // NS
        first = ts == TimestampSource.NETFLOW_FIRST_SWITCHED
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
                    group, reclen, rate = fast
                    n = (slen - 4) // reclen
                    if n:
                        group.parts.append(
                            (buf[p + 4 : p + 4 + n * reclen], n, time, secs, uptime, rate, first)
                        )
                    p += slen
                    continue
                body = buf[p + 4 : p + slen]
                entry = self.templates.get(key)
                if entry is None:
                    entry = self._from_store(key)
                if entry is None:
                    self._keep(
                        Pending(env.receive_time_ns, key, version, body, time, secs, uptime, first)
                    )
                else:
                    self._data(key, entry, version, body, time, secs, uptime, first)
            elif sid == tset:
                self._templates(buf, p + 4, p + slen, exporter, domain, version, False)
            elif sid == oset:
                self._templates(buf, p + 4, p + slen, exporter, domain, version, True)
            p += slen
        if p != end:  # bytes after the last set: a cut datagram
            self.c.error(exporter, m.TRUNCATED)

    def _walk_v5(self, env: Envelope, exporter: bytes) -> None:
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
            Part(buf[24 : 24 + 48 * n], n, time, secs, uptime, sampling & 0x3FFF, first)
        )

    def _data(
        self,
        key: TemplateKey,
        entry: tuple[Template, Compiled],
        version: int,
        body: bytes,
        time: int,
        secs: int,
        uptime: int,
        first: bool,
    ) -> None:
        template, comp = entry
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
        group.parts.append(Part(data, n, time, secs, uptime, rate, first))
        if frames:
            group.frames.extend(frames)

    def _fast(self, key: TemplateKey, version: int) -> tuple[Group, int, int] | None:
        """(group, record length, default rate) for sets of a known fixed-length data template.

        Cached until the next build, template change or sampling change."""
        entry = self.templates.get(key)
        if entry is None or not entry[1].fast:
            return None
        comp = entry[1]
        group = self.groups.get((key, comp))
        if group is None:
            group = self._group(key, comp, version)
        rate = self._defaults.get((key[0], key[1]))
        if rate is None:
            rate = self._default_rate(key[0], key[1])
        fast = self._fasts[key] = (group, comp.record_length, rate)
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
        while p + 4 <= end:
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
                    if p + 4 * count > end:
                        self.c.error(exporter, m.BAD_TEMPLATE)
                        return
                    pairs = struct.unpack_from(f"!{2 * count}H", buf, p)
                    p += 4 * count
                    fields = tuple((pairs[i], pairs[i + 1], 0) for i in range(0, len(pairs), 2))
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
                    continue
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
            self._set_template((exporter, domain, tid), Template(fields, scope), version)

    def _set_template(self, key: TemplateKey, template: Template, version: int) -> None:
        old = self.templates.get(key)
        if old is not None and old[0] == template:
            return  # a refresh of what we know: the common case, nothing to do
        self.templates[key] = (template, compile_template(template))
        self._fasts.clear()
        self._misses.discard(key)
        self.c.template_update(key[0], self._count_templates(key[0]))
        try:
            self.store.save_template(*key, template)
        except Exception as exc:  # a store outage must not stop decoding
            self._store_error("save template", exc)
        self._drain(key)

    def _withdraw(self, exporter: bytes, domain: int, tid: int, opt: bool) -> None:
        if tid in (2, 3):  # all templates (2) or all options templates (3) of the domain
            keys = [
                k
                for k, (t, _) in self.templates.items()
                if k[0] == exporter and k[1] == domain and t.is_options == (tid == 3)
            ]
        else:
            keys = [(exporter, domain, tid)]
        self._fasts.clear()
        for key in keys:  # from the store too: another outlet may have written it
            self.templates.pop(key, None)
            self._misses.discard(key)
            try:
                self.store.delete_template(*key)
            except Exception as exc:
                self._store_error("delete template", exc)
        self.c.template_update(exporter, self._count_templates(exporter), changed=False)

    def _count_templates(self, exporter: bytes) -> int:
        return sum(1 for k in self.templates if k[0] == exporter)

    def _from_store(self, key: TemplateKey) -> tuple[Template, Compiled] | None:
        if key in self._misses:
            return None
        try:
            template = self.store.load_template(*key)
        except Exception as exc:
            self._store_error("load template", exc)
            template = None
        if template is None:
            self._misses.add(key)
            return None
        entry = self.templates[key] = (template, compile_template(template))
        self.c.template_update(key[0], self._count_templates(key[0]), changed=False)
        return entry

    def _load_rates(self, exporter: bytes, domain: int) -> dict[int, int]:
        try:
            rates = self.store.load_sampling(exporter, domain)
        except Exception as exc:
            self._store_error("load sampling", exc)
            rates = {}
        self.rates[(exporter, domain)] = rates
        self._defaults.pop((exporter, domain), None)
        self._fasts.clear()
        return rates

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
        for sid, r in zip(ids, rate.tolist(), strict=True):
            if r and rates.get(sid) != r:
                rates[sid] = r
                self._defaults.pop((exporter, domain), None)
                self._fasts.clear()
                try:
                    self.store.save_sampling(exporter, domain, sid, r)
                except Exception as exc:
                    self._store_error("save sampling", exc)

    # --- data before template ----------------------------------------------------------------

    def _keep(self, item: Pending) -> None:
        exporter = item.key[0]
        cfg = self.config
        queue = self.pending.get(exporter)
        if queue is None:
            queue = self.pending[exporter] = deque()
            self.pending_bytes[exporter] = 0
        queue.append(item)
        self.pending_bytes[exporter] += len(item.body)
        self.expire(item.receive_ns, exporter)
        while queue and (
            len(queue) > cfg.pending_max_flowsets
            or self.pending_bytes[exporter] > cfg.pending_max_bytes
        ):
            self._drop_oldest(exporter)

    def _drop_oldest(self, exporter: bytes) -> None:
        old = self.pending[exporter].popleft()
        self.pending_bytes[exporter] -= len(old.body)
        self.c.expired(exporter)

    def expire(self, now_ns: int, exporter: bytes | None = None) -> None:
        """Drop kept flowsets older than the age bound (relative to `now_ns`)."""
        limit = now_ns - int(self.config.pending_max_age * NS)
        for exp in [exporter] if exporter is not None else list(self.pending):
            queue = self.pending.get(exp)
            while queue and queue[0].receive_ns < limit:
                self._drop_oldest(exp)

    def retry_pending(self) -> None:
        """Look kept sets' templates up in the store: another outlet may have received them."""
        keys = {item.key for queue in self.pending.values() for item in queue}
        for key in keys:
            if key not in self.templates and self._from_store(key) is not None:
                self._drain(key)

    def pending_count(self) -> int:
        return sum(len(q) for q in self.pending.values())

    def _drain(self, key: TemplateKey) -> None:
        queue = self.pending.get(key[0])
        if not queue:
            return
        entry = self.templates[key]
        keep: deque[Pending] = deque()
        for item in queue:
            if item.key == key:
                self.pending_bytes[key[0]] -= len(item.body)
                self.c.pending_decoded(key[0])
                self._data(
                    key, entry, item.version, item.body, item.time, item.unix_secs,
                    item.uptime_ms, item.first_switched,
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
        self._misses.clear()
        for group in groups.values():
            parts = group.parts
            if not parts:
                continue
            comp = group.compiled
            if len(parts) == 1:
                data, total = parts[0][0], parts[0][1]
                counts = None
            else:
                datas, ns, _, _, _, _, _ = zip(*parts, strict=True)
                data = b"".join(datas)
                counts = np.array(ns, dtype=np.int64)
                total = int(counts.sum())
            arr = np.frombuffer(data, dtype=comp.dtype, count=total)
            cols = comp.columns(arr)
            cols["ExporterAddress"] = group.exporter
            cols["TimeReceived"] = self._times(comp, arr, parts, counts)
            cols["SamplingRate"] = self._rates(group, arr, parts, counts)
            if group.frames and len(group.frames) == total:
                for name, value in parse_frames(group.frames).items():
                    if name not in cols:
                        cols[name] = value
                if 2 not in comp.kinds and 86 not in comp.kinds:
                    cols["Packets"] = 1
            chunks.append((total, cols))
            flows = total
            if comp.reverse:
                rows, rev = comp.reverse_columns(arr, cols)
                if len(rows):
                    chunks.append((len(rows), rev))
                    flows += len(rows)
            self.c.flows(group.exporter, group.version, flows)
        return chunks

    @staticmethod
    def _per_row(values: tuple[int, ...], counts: np.ndarray | None, dtype: Any) -> Any:
        if counts is None or min(values) == max(values):
            return values[0]
        return np.repeat(np.array(values, dtype=dtype), counts)

    def _times(
        self,
        comp: Compiled,
        arr: np.ndarray,
        parts: list[tuple[Any, ...]],
        counts: np.ndarray | None,
    ) -> Any:
        times = tuple(p[2] for p in parts)
        base = self._per_row(times, counts, np.uint32)
        field = comp.time_field
        if field is None or not any(p[6] for p in parts):
            return base
        start = comp.uint(arr, field).astype(np.int64)
        if field == 22:  # sysUpTime of the first packet, relative to the header's clock
            secs = self._per_row(tuple(p[3] for p in parts), counts, np.int64)
            uptime = self._per_row(tuple(p[4] for p in parts), counts, np.int64)
            if not any(p[4] for p in parts):  # IPFIX has no sysUpTime in its header
                return base
            rec = np.asarray(secs - ((uptime - start) % (1 << 32)) // 1000, dtype=np.int64)
        elif field == 152:
            rec = start // 1000
        else:
            rec = start
        first = self._per_row(tuple(p[6] for p in parts), counts, np.bool_)
        return np.where(first, rec, base).astype(np.uint32)

    def _rates(
        self, group: Group, arr: np.ndarray, parts: list[tuple[Any, ...]], counts: np.ndarray | None
    ) -> Any:
        default = self._per_row(tuple(p[5] for p in parts), counts, np.uint64)
        rate, sampler = group.compiled.sampling(arr)
        if sampler is not None:
            table = self.rates.get((group.exporter, group.domain), {})
            looked = np.zeros(len(arr), dtype=np.uint64)
            for sid in np.unique(sampler).tolist():
                looked[sampler == sid] = table.get(int(sid), 0)
            rate = looked if rate is None else np.where(rate == 0, looked, rate)
        if rate is None:
            return default
        return np.where(rate == 0, default, rate).astype(np.uint64)
