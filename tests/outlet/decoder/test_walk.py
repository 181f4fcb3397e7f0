"""NetFlow v9 / IPFIX: the NumPy walk of a flush (`NetflowDecoder.walk_many`) and the Python
walk of each datagram give the same flows, counters, pending sets and held offsets."""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest

from collector.kafka.envelope import TimestampSource
from collector.metrics.stats import Stats
from collector.outlet.decoder import METRICS, Decoder, make_envelope
from collector.outlet.decoder import netflow as nf
from collector.outlet.decoder.pcap import read_udp
from tests.outlet.decoder.frames import ipfix, ipfix_set, ipfix_template
from tests.outlet.decoder.helpers import NETFLOW, NETFLOW_SEQUENCES

# captures in the order their templates and options make sense
CAPTURES = [
    payload
    for names in NETFLOW_SEQUENCES.values()
    for name in names
    for *_, payload in read_udp(NETFLOW / f"{name}.pcap")
]
FIELDS = [(8, 4), (12, 4), (10, 4), (14, 4), (2, 4), (1, 4), (7, 2), (11, 2), (4, 1), (48, 1)]
OTHER = [(8, 4), (12, 4), (1, 8), (2, 8), (4, 1)]  # the same template id, another field list


def _records(rnd: random.Random, fields: list[tuple[int, int]], n: int) -> bytes:
    return b"".join(rnd.randbytes(sum(length for _, length in fields)) for _ in range(n))


def v9(sets: bytes, domain: int = 7, uptime: int = 3_600_000) -> bytes:
    return struct.pack("!HHIIII", 9, 1, uptime, 1_700_000_000, 1, domain) + sets


def v9_template(tid: int, fields: list[tuple[int, int]]) -> bytes:
    spec = b"".join(struct.pack("!HH", ie, length) for ie, length in fields)
    return struct.pack("!HHHH", 0, 8 + len(spec), tid, len(fields)) + spec


def _traffic(seed: int) -> list[tuple[bytes, str]]:
    """A flush's worth of (datagram, exporter): data before its template (kept), templates
    mid-flush, two exporters, v9 and IPFIX, sets of one and several records, template
    changes, a datagram of a thousand 4-byte sets, capture datagrams."""
    rnd = random.Random(seed)
    out: list[tuple[bytes, str]] = []
    ipfix_t, v9_t = ipfix_template(300, FIELDS), v9_template(300, FIELDS)
    for i in range(120):
        exporter = ("192.0.2.1", "2001:db8::2")[i % 2]
        n = rnd.choice((1, 2, 5, 30))
        if i in (10, 11):
            out += [(ipfix(ipfix_t), exporter), (v9(v9_t), exporter)]
        if i % 40 == 25:  # the template changes, then changes back
            out.append((ipfix(ipfix_template(300, OTHER)), exporter))
        if i % 40 == 30:
            out.append((ipfix(ipfix_t), exporter))
        refresh = i % 5 == 3  # the template again in front of the data (changes nothing)
        if i % 2:
            body = ipfix_set(300, _records(rnd, FIELDS, n))
            if i % 3 == 0:  # two data sets in one datagram
                body += ipfix_set(300, _records(rnd, FIELDS, 1) + b"\0\0")
            out.append((ipfix((ipfix_t if refresh else b"") + body), exporter))
        else:
            body = struct.pack("!HH", 300, 4 + 30 * n) + _records(rnd, FIELDS, n)
            out.append((v9((v9_t if refresh else b"") + body), exporter))
        if i == 60:
            out.append((ipfix(struct.pack("!HH", 300, 4) * 1000), exporter))
    out += [(d, "192.0.2.9") for d in CAPTURES]
    return out


def _mutated(traffic: list[tuple[bytes, str]], rnd: random.Random) -> list[tuple[bytes, str]]:
    out = []
    for datagram, exporter in traffic:
        raw = bytearray(datagram)
        if rnd.random() < 0.5:
            at = rnd.randrange(0, min(len(raw), 64) - 1, 2)
            word = rnd.choice((0, 2, 3, 4, 5, 16, 20, 255, 256, 300, 0xFFFF, len(raw) - at))
            raw[at : at + 2] = struct.pack("!H", word & 0xFFFF)
        if rnd.random() < 0.1:
            raw = raw[: rnd.randrange(len(raw))]
        out.append((bytes(raw), exporter))
    return out


def _decode(flushes: list[list[tuple[bytes, str]]]) -> tuple[Any, ...]:
    stats = Stats(METRICS)
    decoder = Decoder(stats)
    rows, pending, held = [], [], []
    offset = 0
    for k, flush in enumerate(flushes):
        for i, (datagram, exporter) in enumerate(flush):
            source = (TimestampSource.UDP, TimestampSource.NETFLOW_FIRST_SWITCHED)[
                k % 2 == 1 and i % 7 == 0  # every other flush: one timestamp source for all
            ]
            env = make_envelope(datagram, exporter, 10**18 + i * 10**6, timestamp_source=source)
            decoder.feed(env, "vxlan" if i % 11 == 0 else None, (i % 2, offset))
            offset += 1
        rows.append(decoder.flush().to_rows())
        pending.append(decoder.pending())
        held.append(decoder.held())
    return rows, pending, held, sorted(stats.values.items())


@pytest.mark.parametrize("seed", range(4))
def test_numpy_walk_matches_the_python_walk(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(seed)
    traffic = _traffic(seed)
    flushes = [traffic, _mutated(traffic, rnd), _mutated(traffic, rnd), traffic[::-1]]
    taken = []  # datagrams the NumPy walk took, per mode
    walk_simple = nf.NetflowDecoder._walk_simple

    def spy(self: nf.NetflowDecoder, i: int, j: int, walk: tuple[Any, ...]) -> bool:
        done = walk_simple(self, i, j, walk)
        taken[-1] += (j - i) if done else 0
        return done

    monkeypatch.setattr(nf.NetflowDecoder, "_walk_simple", spy)
    results = []
    # every datagram in Python; the default bounds; every datagram the NumPy walk can take
    default = (nf.VECTOR_MIN, nf.VECTOR_SETS_PER_KEY, nf.VECTOR_RUN, nf.VECTOR_REDO)
    for smallest, per_key, run, redo in ((1 << 30, 0, 0, 0), default, (0, 0, 0, 1 << 30)):
        monkeypatch.setattr(nf, "VECTOR_MIN", smallest)
        monkeypatch.setattr(nf, "VECTOR_SETS_PER_KEY", per_key)
        monkeypatch.setattr(nf, "VECTOR_RUN", run)
        monkeypatch.setattr(nf, "VECTOR_REDO", redo)
        taken.append(0)
        results.append(_decode(flushes))
    assert taken[0] == 0 and taken[2] > 100
    assert results[1] == results[0]
    assert results[2] == results[0]


def test_template_changes_mid_flush_take_effect_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """More template changes in one flush than walk_many re-classifies for (the rest goes to
    the Python walk): each data set is still decoded with the template announced before it."""
    monkeypatch.setattr(nf, "VECTOR_MIN", 0)
    monkeypatch.setattr(nf, "VECTOR_RUN", 0)
    flush = []
    for i in range(3 * nf.VECTOR_REDO):
        fields = FIELDS if i % 2 else OTHER
        flush.append(ipfix(ipfix_template(400, fields)))
        length = sum(ln for _, ln in fields)
        flush.append(ipfix(ipfix_set(400, struct.pack("!4s4s", b"\x0a\0\0\1", b"\x0a\0\0\2")
                                     + struct.pack("!B", i) * (length - 8))))  # fmt: skip
    decoder = Decoder()
    for d in flush:
        decoder.feed(make_envelope(d, "192.0.2.1"))
    rows = decoder.flush().to_rows()
    assert sorted(row["Proto"] for row in rows) == list(range(3 * nf.VECTOR_REDO))
    for row in rows:  # OTHER (even sets) has 8-byte byte counts
        i = row["Proto"]
        assert row["Bytes"] == int.from_bytes(bytes([i]) * (4 if i % 2 else 8), "big")
        assert row["SrcAddr"] == "10.0.0.1"
