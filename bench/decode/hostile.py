"""`python -m bench.decode --hostile`: crafted datagrams beside normal ones of the same size.

Each scenario feeds its datagrams one at a time, with a flush after each (the worst case),
and prints the slowest and the median datagram+flush (CPU time of the process, and the worst
wall time) beside the median of a normal IPFIX data datagram of about the same size, and
for sFlow of a normal sFlow datagram too, measured in the same run. Memory: the peak RSS
growth of the scenario and the decoder state it left (bounded by the DecoderConfig defaults).
"""

from __future__ import annotations

import resource
import statistics
import struct
import time
from collections.abc import Callable, Iterator

from bench.decode.__main__ import sflow_datagrams
from collector.kafka.envelope import DecoderKind, Envelope, address_to_bytes
from collector.outlet.decoder import Decoder, DecoderConfig, RedisTemplateStore
from collector.outlet.decoder.templates import TemplateStore

SIZE = 9000  # bytes per crafted datagram (a jumbo-frame UDP payload)
FIELDS = [(8, 4), (12, 4), (1, 4), (2, 4), (7, 2), (11, 2), (4, 1), (6, 1)]
RECLEN = 22


def _ipfix(sets: bytes, domain: int = 1) -> bytes:
    return struct.pack("!HHIII", 10, 16 + len(sets), 1_700_000_000, 1, domain) + sets


def _set(set_id: int, body: bytes) -> bytes:
    return struct.pack("!HH", set_id, 4 + len(body)) + body


def _template(tid: int, fields: list[tuple[int, int]]) -> bytes:
    return struct.pack("!HH", tid, len(fields)) + b"".join(struct.pack("!HH", *f) for f in fields)


def _record(i: int) -> bytes:
    return struct.pack("!IIIIHHBB", 0x0A000000 + i, 0x0A010000 + i, 1000, 1, 1024, 443, 6, 16)


def normal(count: int) -> tuple[list[bytes], list[bytes]]:
    """(template datagram, data datagrams of ~SIZE bytes)."""
    per = (SIZE - 20) // RECLEN
    data = [
        _ipfix(_set(256, b"".join(_record(i * per + j) for j in range(per)))) for i in range(count)
    ]
    return [_ipfix(_set(2, _template(256, FIELDS)))], data


def template_flood(count: int) -> Iterator[bytes]:
    """Datagrams each announcing ~SIZE/36 templates never seen before (ids wrap per domain)."""
    per = (SIZE - 20) // (4 + 4 * len(FIELDS))
    tid = 0
    for _ in range(count):
        body = b""
        for _ in range(per):
            body += _template(256 + tid % 65000, FIELDS)
            tid += 1
        yield _ipfix(_set(2, body), domain=tid // 65000)


def sampler_flood(count: int) -> Iterator[bytes]:
    """Options data with ~SIZE/8 new sampler ids per datagram, then data naming them."""
    opt = _set(3, struct.pack("!HHH", 300, 2, 1) + struct.pack("!HHHH", 48, 4, 34, 4))
    tmpl = _set(2, _template(301, [*FIELDS, (48, 4)]))
    per = (SIZE - 60) // 8
    yield _ipfix(opt + tmpl)
    for i in range(count):
        ids = range(i * per, (i + 1) * per)
        if i % 2:
            recs = b"".join(_record(s) + struct.pack("!I", s) for s in ids)[: SIZE - 40]
            yield _ipfix(_set(301, recs[: len(recs) // (RECLEN + 4) * (RECLEN + 4)]))
        else:
            yield _ipfix(_set(300, b"".join(struct.pack("!II", s, 100 + s % 7) for s in ids)))


def withdraw_flood(count: int) -> Iterator[bytes]:
    """2,000 options templates, then datagrams of ~SIZE/4 "withdraw all data templates"."""
    for first in range(256, 2256, 200):
        yield _ipfix(
            _set(
                3,
                b"".join(
                    struct.pack("!HHHHHHH", t, 2, 1, 48, 4, 34, 4)
                    for t in range(first, first + 200)
                ),
            )
        )
    for _ in range(count - 10):
        yield _ipfix(_set(2, struct.pack("!HH", 2, 0) * ((SIZE - 20) // 4)))


def zero_length_template(count: int) -> Iterator[bytes]:
    """A template of thousands of zero-length fields and one variable-length one, and data."""
    fields = [(1, 0)] * ((SIZE - 200) // 4) + [(315, 0xFFFF)]
    yield _ipfix(_set(2, _template(302, fields)))
    body = b"".join(b"\x01x" for _ in range((SIZE - 40) // 2))
    for _ in range(count):
        yield _ipfix(_set(302, body))


def sflow_sample_flood(count: int) -> Iterator[bytes]:
    """sFlow datagrams of ~SIZE/8 empty samples, and of flow samples of ~SIZE/8 empty records."""
    many = (SIZE - 28) // 8
    head = struct.pack("!II4sIII", 5, 1, b"\xc0\x00\x02\x42", 0, 1, 1000)
    samples = head + struct.pack("!I", many) + struct.pack("!II", 2, 0) * many
    recs = (SIZE - 80) // 8
    body = (
        struct.pack("!8I", 1, 7, 512, 1 << 20, 0, 1, 2, recs) + struct.pack("!II", 1001, 0) * recs
    )
    records = head + struct.pack("!I", 1) + struct.pack("!II", 1, len(body)) + body
    for i in range(count):
        yield samples if i % 2 else records


def pending_sets(exporters: int = 50, per: int = 512) -> Iterator[tuple[bytes, bytes]]:
    """Data sets of templates nobody sent: 50 exporters x 512 sets waiting."""
    for e in range(exporters):
        addr = address_to_bytes(f"10.77.{e // 250}.{e % 250 + 1}")
        for chunk in range(0, per, 64):
            sets = b"".join(_set(256 + t, _record(t)) for t in range(chunk, chunk + 64))
            yield addr, _ipfix(sets)


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


WALL: list[float] = []  # wall-clock seconds of each datagram of the last _each call


def _each(decoder: Decoder, envs: list[Envelope]) -> list[float]:
    """CPU seconds of feed + flush of each envelope, one at a time (CPU time: on a shared
    machine a datagram's wall time also holds whatever ran meanwhile; WALL keeps it)."""
    out = []
    WALL.clear()
    for env in envs:
        wall, start = time.perf_counter(), time.process_time()
        decoder.feed(env)
        decoder.flush()
        out.append(time.process_time() - start)
        WALL.append(time.perf_counter() - wall)
    return out


def run(datagrams: int = 300, redis_url: str | None = None) -> None:
    exporter = address_to_bytes("192.0.2.66")

    def env(payload: bytes, addr: bytes = exporter) -> Envelope:
        kind = DecoderKind.SFLOW if payload[:4] == b"\0\0\0\x05" else DecoderKind.NETFLOW
        return Envelope(kind, 1_700_000_000_000_000_000, addr, 2055, payload)

    prelude, data = normal(50)
    base = Decoder()
    _each(base, [env(d) for d in prelude])
    ref = statistics.median(_each(base, [env(d) for d in data]))
    size = statistics.median(len(d) for d in data)
    print(f"normal IPFIX data datagram ({size:.0f} bytes, {(SIZE - 20) // RECLEN} records): "
          f"{ref * 1e3:.2f} ms CPU decode+flush (median)")  # fmt: skip
    sflow = sflow_datagrams(50, samples=SIZE // 193)  # flow samples of 128-byte headers
    sref = statistics.median(_each(Decoder(), [env(d) for d in sflow]))
    print(f"normal sFlow datagram ({statistics.median(len(d) for d in sflow):.0f} bytes, "
          f"{SIZE // 193} flow samples): {sref * 1e3:.2f} ms CPU decode+flush (median)")  # fmt: skip
    scenarios: list[tuple[str, Callable[[], list[bytes]]]] = [
        ("template flood", lambda: list(template_flood(datagrams))),
        ("sampler-id flood", lambda: list(sampler_flood(datagrams))),
        ("withdraw-all flood", lambda: list(withdraw_flood(datagrams))),
        ("zero-length-field template", lambda: list(zero_length_template(datagrams))),
        ("sFlow sample/record flood", lambda: list(sflow_sample_flood(datagrams))),
    ]
    for name, make in scenarios:
        payloads = make()
        decoder = Decoder()
        rss = _rss_kb()
        times = _each(decoder, [env(p) for p in payloads])
        nf = decoder.netflow
        state = (
            f"{len(nf.templates)} templates, "
            f"{sum(len(r) for r in nf.rates.values())} sampling rates kept"
        )
        _line(name, len(payloads), max(times), statistics.median(times), ref, _rss_kb() - rss)
        print(f"    worst wall time {max(WALL) * 1e3:.2f} ms (CPU time above)")
        if name.startswith("sFlow"):  # beside a normal sFlow datagram of the same size too
            print(f"    beside the normal sFlow datagram: worst {max(times) / sref:.1f}x, "
                  f"median {statistics.median(times) / sref:.1f}x")  # fmt: skip
        print(f"    state after: {state}; counters: {_evicted(decoder)}")
    store: TemplateStore | None = None
    label = "memory store"
    if redis_url:
        store, label = RedisTemplateStore.from_url(redis_url), "Redis store"
    decoder = Decoder(store=store, config=DecoderConfig(pending_max_flowsets=512))
    rss = _rss_kb()
    for addr, payload in pending_sets():
        decoder.feed(env(payload, addr))
    start = time.perf_counter()
    decoder.flush()
    first = time.perf_counter() - start
    flushes = []
    for _ in range(20):
        start = time.perf_counter()
        decoder.flush()
        flushes.append(time.perf_counter() - start)
    print(
        f"pending sets ({label}): {decoder.pending()} sets of 50 exporters wait; first flush "
        f"{first * 1e3:.1f} ms (one store round trip), later flushes "
        f"{max(flushes) * 1e3:.2f} ms worst (misses remembered); +{(_rss_kb() - rss) / 1024:.0f} MiB"
    )


def _line(name: str, n: int, worst: float, median: float, ref: float, rss_kb: int) -> None:
    print(
        f"{name:27s} {n:4d} datagrams: CPU worst {worst * 1e3:7.2f} ms ({worst / ref:5.1f}x normal), "
        f"median {median * 1e3:6.2f} ms ({median / ref:4.1f}x); peak RSS +{rss_kb / 1024:.0f} MiB"
    )


def _evicted(decoder: Decoder) -> str:
    out = []
    for (name, labels), value in sorted(decoder.stats.values.items()):
        if "evicted" in name or (name.endswith("_errors") and "bad_template" in labels):
            out.append(f"{name.removeprefix('flowweir_outlet_decoder_')}{list(labels)}={value:.0f}")
    return ", ".join(out) or "none"
