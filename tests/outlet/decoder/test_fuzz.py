"""Truncated and random datagrams: never an exception past the decoder, never a hang, always counted."""

from __future__ import annotations

import logging
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.kafka.envelope import DecoderKind
from collector.metrics.stats import Stats
from collector.outlet.decoder import METRICS, Decoder, make_envelope, sniff_kind
from collector.outlet.decoder.pcap import read_udp
from tests.outlet.decoder.helpers import NETFLOW, SFLOW

CAPTURES = sorted(NETFLOW.glob("*.pcap")) + sorted(SFLOW.glob("*.pcap"))
DATAGRAMS = [payload for path in CAPTURES for *_, payload in read_udp(path)]
TEMPLATES = [d for d in DATAGRAMS if d[:2] in (b"\0\x09", b"\0\x0a")]


def _errors(stats: Stats) -> float:
    return sum(v for (name, _), v in stats.values.items() if name.endswith("_errors"))


def _v9_boundaries(datagram: bytes) -> set[int]:
    """Lengths at which a datagram is cut and still well formed: between NetFlow v9
    flowsets, or after the samples an sFlow datagram declares (the rest is ignored)."""
    if datagram[:4] == b"\0\0\0\x05":
        p = 28 if struct.unpack_from("!I", datagram, 4)[0] == 1 else 40
        for _ in range(struct.unpack_from("!I", datagram, p - 4)[0]):
            p += 8 + struct.unpack_from("!I", datagram, p + 4)[0]
        return set(range(p, len(datagram) + 1))
    if datagram[:2] != b"\0\x09":
        return set()
    out, p = {20}, 20
    while p + 4 <= len(datagram):
        _, length = struct.unpack_from("!HH", datagram, p)
        if length < 4:
            break
        p += length
        out.add(p)
    return out


def _decoder_with_templates() -> tuple[Decoder, Stats]:
    stats = Stats(METRICS)
    decoder = Decoder(stats)
    for d in TEMPLATES:  # so that truncated data sets reach the record decoders
        decoder.feed(make_envelope(d, "192.0.2.9"))
    decoder.flush()
    return decoder, stats


@pytest.mark.parametrize("index", range(len(DATAGRAMS)))
def test_every_truncation_of_every_capture_is_counted(
    index: int, caplog: pytest.LogCaptureFixture
) -> None:
    datagram = DATAGRAMS[index]
    decoder, stats = _decoder_with_templates()
    boundaries = _v9_boundaries(datagram)
    for cut in range(len(datagram)):
        before = _errors(stats)
        decoder.decode([make_envelope(datagram[:cut], "192.0.2.9")])
        if cut not in boundaries:
            assert _errors(stats) > before, f"datagram {index} cut at {cut} not counted"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


_versions = st.sampled_from([b"\0\x05", b"\0\x09", b"\0\x0a", b"\0\0\0\x05", b""])


def _accounted(stats: Stats) -> float:
    """Datagrams decoded plus datagrams or sets counted as errors."""
    names = ("flowweir_outlet_decoder_datagrams", "flowweir_outlet_decoder_errors")
    return sum(v for (name, _), v in stats.values.items() if name in names)


class _Raised(logging.Handler):
    """Records of ERROR level: the decoder's safety net caught an exception."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=_versions, body=st.binary(max_size=600), base=st.sampled_from(DATAGRAMS))
def test_random_and_mutated_datagrams_never_raise(prefix: bytes, body: bytes, base: bytes) -> None:
    decoder, stats = _decoder_with_templates()
    mutated = bytearray(base)
    for i, b in enumerate(body[:32]):  # flip some bytes of a real datagram
        mutated[(i * 37 + b) % len(mutated)] ^= b
    raised = _Raised()
    logger = logging.getLogger("collector.outlet.decoder")
    logger.addHandler(raised)
    try:
        for datagram in (prefix + body, bytes(mutated)):
            before = _accounted(stats)
            batch = decoder.decode([make_envelope(datagram, "192.0.2.9")])
            # every datagram fed is either decoded or counted as malformed, never silently lost
            assert _accounted(stats) >= before + 1, datagram.hex()
            assert batch.n >= 0
    finally:
        logger.removeHandler(raised)
    assert not raised.records, raised.records[0].getMessage()  # no exception reached the net


@settings(max_examples=300, deadline=2000)
@given(version=st.sampled_from([0, 1, 6, 7, 8, 11, 255]), body=st.binary(min_size=0, max_size=300))
def test_every_datagram_of_an_unknown_version_is_counted(version: int, body: bytes) -> None:
    stats = Stats(METRICS)
    datagram = bytes([0, version]) + body
    batch = Decoder(stats).decode([make_envelope(datagram, "192.0.2.9", kind=DecoderKind.NETFLOW)])
    assert batch.n == 0
    assert (
        stats.get("flowweir_outlet_decoder_errors", ("192.0.2.9", "unknown_version"))
        + stats.get("flowweir_outlet_decoder_errors", ("192.0.2.9", "truncated"))
        == 1
    )


@settings(max_examples=200, deadline=2000)
@given(body=st.binary(max_size=200))
def test_garbage_is_counted_as_an_error(body: bytes) -> None:
    kind = sniff_kind(body)
    stats = Stats(METRICS)
    decoder = Decoder(stats)
    batch = decoder.decode([make_envelope(body, "192.0.2.9", kind=kind)])
    if kind is None or len(body) < 8:
        assert batch.n == 0 and _errors(stats) == 1


_field = st.tuples(
    st.sampled_from([1, 2, 4, 7, 8, 10, 12, 22, 27, 32, 34, 48, 56, 61, 70, 89, 152, 225, 315]),
    st.sampled_from([0, 1, 2, 3, 4, 6, 8, 16, 17, 0xFFFF]),
    st.sampled_from([0, 0, 0, 9, 29305]),
)


@settings(max_examples=300, deadline=2000)
@given(
    fields=st.lists(_field, min_size=1, max_size=12),
    data=st.binary(max_size=300),
    options=st.booleans(),
)
def test_random_ipfix_templates_never_raise(
    fields: list[tuple[int, int, int]], data: bytes, options: bool
) -> None:
    spec = b""
    for ie, length, pen in fields:
        spec += struct.pack("!HH", ie | (0x8000 if pen else 0), length)
        spec += struct.pack("!I", pen) if pen else b""
    if options:
        body = struct.pack("!HHH", 400, len(fields), 1) + spec
        tset = struct.pack("!HH", 3, 4 + len(body)) + body
    else:
        body = struct.pack("!HH", 400, len(fields)) + spec
        tset = struct.pack("!HH", 2, 4 + len(body)) + body
    dset = struct.pack("!HH", 400, 4 + len(data)) + data
    sets = tset + dset
    datagram = struct.pack("!HHIII", 10, 16 + len(sets), 1_700_000_000, 1, 7) + sets
    stats = Stats(METRICS)
    caplog_errors = []
    handler = logging.Handler(logging.ERROR)  # a caught exception; malformed input only warns
    handler.emit = caplog_errors.append  # type: ignore[method-assign]
    logging.getLogger("collector.outlet.decoder").addHandler(handler)
    try:
        batch = Decoder(stats).decode([make_envelope(datagram, "192.0.2.9")])
    finally:
        logging.getLogger("collector.outlet.decoder").removeHandler(handler)
    assert not caplog_errors, caplog_errors[0].getMessage()
    assert batch.n >= 0


SFLOW_DATAGRAMS = [d for d in DATAGRAMS if d[:4] == b"\0\0\0\x05"]


def test_sflow_walk_in_python_matches_the_numpy_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small flushes walk sFlow samples in Python: the same rows and counts as NumPy's walk,
    for every sFlow capture datagram with any of its first 4-byte words (sample and record
    formats, lengths, counts) made wrong, flushed beside an intact one."""
    from collector.outlet.decoder import sflow

    flushes = []
    for datagram in SFLOW_DATAGRAMS:
        for at in range(28, min(len(datagram), 320) - 3, 4):
            for word in (0, 1, 16, 1001, 2**32 - 1):
                raw = bytearray(datagram)
                raw[at : at + 4] = struct.pack("!I", word)
                flushes.append([bytes(raw), datagram])
    results = []
    for smallest in (sflow.VECTOR_MIN, 0):  # 0: every step in NumPy
        monkeypatch.setattr(sflow, "VECTOR_MIN", smallest)
        stats = Stats(METRICS)
        decoder = Decoder(stats)
        rows = []
        for flush in flushes:
            envs = [make_envelope(d, "192.0.2.9", receive_time_ns=10**18) for d in flush]
            rows.append(decoder.decode(envs).to_rows())
        results.append((rows, sorted(stats.values.items())))
    assert results[0] == results[1]
