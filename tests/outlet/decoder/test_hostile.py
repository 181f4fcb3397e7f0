"""Crafted input: floods of templates, samplers, exporters, zero-length fields, pending sets.

State stays within its configured bounds and what was evicted is counted; speed is measured
by `bench/decode --hostile`, not here.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
import redis

from collector.kafka.envelope import address_to_bytes
from collector.metrics.stats import Stats
from collector.outlet.decoder import (
    METRICS,
    Decoder,
    DecoderConfig,
    MemoryTemplateStore,
    RedisTemplateStore,
    make_envelope,
)
from collector.outlet.decoder.templates import Template, TemplateKey
from tests.outlet.decoder import frames as f

P = "flowweir_outlet_decoder_"
EXPORTER = "192.0.2.7"
FIELDS = [(8, 4), (12, 4), (1, 4), (2, 4)]
REC = bytes([10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack("!II", 100, 1)


def template_flood(first: int, count: int) -> bytes:
    """One IPFIX datagram announcing `count` new templates."""
    spec = b"".join(struct.pack("!HH", *fl) for fl in FIELDS)
    body = b"".join(
        struct.pack("!HH", tid, len(FIELDS)) + spec for tid in range(first, first + count)
    )
    return f.ipfix(f.ipfix_set(2, body))


def test_template_flood_is_bounded_per_exporter_and_evictions_counted() -> None:
    stats = Stats(METRICS)
    decoder = Decoder(stats, config=DecoderConfig(max_templates_per_exporter=100))
    for i in range(5):  # 5 datagrams of 300 new templates each
        decoder.decode([make_envelope(template_flood(256 + 300 * i, 300), EXPORTER)])
    assert len(decoder.netflow.templates) == 100
    assert stats.get(P + "templates", (EXPORTER,)) == 100
    assert stats.get(P + "templates_evicted", (EXPORTER,)) == 1400
    # the newest are kept: data of the last template decodes
    rows = decoder.decode([make_envelope(f.ipfix(f.ipfix_set(256 + 1499, REC)), EXPORTER)])
    assert rows.n == 1


def test_sampler_flood_is_bounded_and_lookups_still_right() -> None:
    stats = Stats(METRICS)
    decoder = Decoder(stats, config=DecoderConfig(max_samplers_per_exporter=500))
    opt = f.ipfix_set(3, struct.pack("!HHH", 300, 2, 1) + struct.pack("!HHHH", 48, 4, 34, 4))
    data = b"".join(struct.pack("!II", sid, 10 + sid) for sid in range(3000))
    tmpl = f.ipfix_template(301, [*FIELDS, (48, 4)])
    decoder.decode([make_envelope(f.ipfix(opt + f.ipfix_set(300, data) + tmpl), EXPORTER)])
    assert len(decoder.netflow.rates[(address_to_bytes(EXPORTER), 1)]) == 500
    assert stats.get(P + "samplers_evicted", (EXPORTER,)) == 2500
    recs = b"".join(REC + struct.pack("!I", sid) for sid in (2999, 2600, 10))
    rows = decoder.decode([make_envelope(f.ipfix(f.ipfix_set(301, recs)), EXPORTER)]).to_rows()
    assert [r["SamplingRate"] for r in rows] == [3009, 2610, 0]  # sampler 10 was evicted


def _sampler_flood(decoder: Decoder, count: int) -> None:
    """Options data naming `count` samplers (ids 0..count-1, rate 10 + id), over 3 flushes."""
    opt = f.ipfix_set(3, struct.pack("!HHH", 300, 2, 1) + struct.pack("!HHHH", 48, 4, 34, 4))
    decoder.decode([make_envelope(f.ipfix(opt), EXPORTER)])
    step = count // 3
    for first in range(0, count, step):
        data = b"".join(struct.pack("!II", s, 10 + s) for s in range(first, first + step))
        decoder.decode([make_envelope(f.ipfix(f.ipfix_set(300, data)), EXPORTER)])


def test_evicted_samplers_leave_the_memory_store_too() -> None:
    store = MemoryTemplateStore()
    decoder = Decoder(store=store, config=DecoderConfig(max_samplers_per_exporter=500))
    _sampler_flood(decoder, 3000)
    kept = store.rates[(address_to_bytes(EXPORTER), 1)]
    assert sorted(kept) == list(range(2500, 3000))  # the newest 500, as the decoder keeps
    assert kept[2999] == 3009


def test_evicted_samplers_leave_redis_too(redis_client: Any) -> None:
    store = RedisTemplateStore(redis_client)
    decoder = Decoder(store=store, config=DecoderConfig(max_samplers_per_exporter=500))
    _sampler_flood(decoder, 3000)
    assert redis_client.hlen(f"flowweir:v1:decoder:sampling:{EXPORTER}") == 500
    # a restarted outlet finds the same rates
    again = Decoder(store=store)
    recs = b"".join(REC + struct.pack("!I", sid) for sid in (2999, 2600, 10))
    tmpl = f.ipfix_template(301, [*FIELDS, (48, 4)])
    rows = again.decode([make_envelope(f.ipfix(tmpl + f.ipfix_set(301, recs)), EXPORTER)])
    assert [r["SamplingRate"] for r in rows.to_rows()] == [3009, 2610, 0]


def test_templates_never_used_are_not_compiled() -> None:
    from collector.outlet.decoder.templates import compile_template

    decoder = Decoder(config=DecoderConfig(max_templates_per_exporter=5000))
    spec = [(8, 4), (12, 4), (1, 4), (2, 4), (7, 2), (11, 2)]
    body = b"".join(f.ipfix_template(tid, spec[: 1 + tid % 6])[4:] for tid in range(256, 556))
    calls = compile_template.cache_info()
    decoder.decode([make_envelope(f.ipfix(f.ipfix_set(2, body)), EXPORTER)])
    assert len(decoder.netflow.templates) == 300
    after = compile_template.cache_info()
    assert after.hits + after.misses == calls.hits + calls.misses  # announced, not compiled
    rows = decoder.decode([make_envelope(f.ipfix(f.ipfix_set(261, REC)), EXPORTER)])
    assert rows.to_rows()[0]["Bytes"] == 100  # compiled on first data use


def test_withdraw_all_removes_its_kind_only_and_costs_what_it_removes() -> None:
    decoder = Decoder()
    opts = b"".join(
        struct.pack("!HHHHH", tid, 2, 1, 48, 4) + struct.pack("!HH", 34, 4)
        for tid in range(300, 1300)
    )
    data = template_flood(256, 10)
    decoder.decode([make_envelope(f.ipfix(f.ipfix_set(3, opts)), EXPORTER)])
    decoder.decode([make_envelope(data, EXPORTER)])
    assert len(decoder.netflow.templates) == 1010
    # thousands of "withdraw all data templates" (id 2) in one datagram, beside 1000 options
    # templates they do not touch (each used to be a pass over all of them)
    withdraw = f.ipfix(f.ipfix_set(2, struct.pack("!HH", 2, 0) * 2000))
    decoder.decode([make_envelope(withdraw, EXPORTER)])
    assert len(decoder.netflow.templates) == 1000  # the options templates stay
    rows = decoder.decode([make_envelope(f.ipfix(f.ipfix_set(256, REC)), EXPORTER)])
    assert rows.n == 0 and decoder.pending() == 1  # withdrawn: data waits for its template
    decoder.decode([make_envelope(f.ipfix(f.ipfix_set(2, struct.pack("!HH", 3, 0))), EXPORTER)])
    assert len(decoder.netflow.templates) == 0


def test_zero_length_and_oversized_templates_are_refused() -> None:
    stats = Stats(METRICS)
    decoder = Decoder(stats)
    zeros = f.ipfix_template(302, [(8, 4), *[(1, 0)] * 2000, (0xFFFF & 210, 0xFFFF)])
    huge = f.ipfix_template(303, [(1, 4)] * 600)
    few = f.ipfix_template(304, [(8, 4), (1, 0), (12, 4), (1, 4), (2, 4)])  # one: tolerated
    batch = decoder.decode(
        [make_envelope(f.ipfix(zeros + huge + few + f.ipfix_set(304, REC)), EXPORTER)]
    )
    assert stats.get(P + "errors", (EXPORTER, "bad_template")) == 2
    assert batch.to_rows()[0]["Bytes"] == 100 and len(decoder.netflow.templates) == 1


def test_exporter_flood_is_bounded_and_metric_series_folded() -> None:
    stats = Stats(METRICS)
    config = DecoderConfig(max_exporters=50, max_exporter_series=20)
    decoder = Decoder(stats, config=config)
    tmpl = f.ipfix(f.ipfix_template(256, FIELDS) + f.ipfix_set(256, REC))
    for i in range(300):
        decoder.feed(make_envelope(tmpl, f"10.{i // 250}.{i % 250}.1"))
    assert decoder.flush().n == 300
    assert len(decoder.netflow.exporters) == 50 and len(decoder.netflow.templates) == 50
    assert stats.get(P + "exporters_evicted") == 250
    exporters = {k[1][0] for k in stats.values if k[0] == P + "flows"}
    assert len(exporters) == 21 and "other" in exporters
    assert stats.get(P + "flows", ("other", "10")) == 280


class CountingStore(MemoryTemplateStore):
    """A real in-memory store that counts round trips (what Redis would see)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def load_templates(self, keys: list[TemplateKey]) -> list[Template | None]:
        self.calls += 1
        return super().load_templates(keys)


def test_pending_sets_ask_the_store_once_per_flush_and_remember_misses() -> None:
    store = CountingStore()
    decoder = Decoder(store=store, config=DecoderConfig(template_miss_retry=3600))
    for exp in range(50):  # 50 exporters x 20 pending sets of distinct templates
        sets = b"".join(f.ipfix_set(256 + tid, REC) for tid in range(20))
        decoder.feed(make_envelope(f.ipfix(sets), f"10.1.0.{exp + 1}"))
    decoder.flush()
    assert decoder.pending() == 1000 and store.calls == 1
    for _ in range(5):
        decoder.flush()  # misses remembered: Redis is not asked again at every flush
    assert store.calls == 1


def test_pending_data_holds_back_its_kafka_offset() -> None:
    decoder = Decoder()
    data = f.ipfix(f.ipfix_set(256, REC))
    decoder.feed(make_envelope(data, EXPORTER), token=(3, 41))
    decoder.feed(make_envelope(data, EXPORTER), token=(3, 42))
    decoder.feed(make_envelope(f.ipfix(f.ipfix_template(257, FIELDS)), EXPORTER), token=(3, 43))
    decoder.flush()
    assert decoder.held() == {3: 41}  # commit no further than 41 on partition 3
    decoder.feed(make_envelope(f.ipfix(f.ipfix_template(256, FIELDS)), EXPORTER), token=(3, 44))
    assert decoder.flush().n == 2 and decoder.held() == {}


@pytest.fixture
def redis_client(redis_server: Any) -> Any:
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


def test_redis_template_keys_expire_when_the_exporter_goes_quiet(redis_client: Any) -> None:
    store = RedisTemplateStore(redis_client)
    decoder = Decoder(store=store, config=DecoderConfig(template_store_ttl=600))
    opt = f.ipfix_set(3, struct.pack("!HHH", 300, 2, 1) + struct.pack("!HHHH", 48, 4, 34, 4))
    datagram = f.ipfix(
        f.ipfix_template(256, FIELDS) + opt + f.ipfix_set(300, struct.pack("!II", 1, 100))
    )
    decoder.decode([make_envelope(datagram, EXPORTER)])
    for what in ("templates", "sampling"):
        ttl = redis_client.ttl(f"flowweir:v1:decoder:{what}:{EXPORTER}")
        assert 0 < ttl <= 600, what
    assert store.load_templates([(address_to_bytes(EXPORTER), 1, 256)])[0] is not None


def test_sflow_datagrams_of_many_samples_and_records_decode_fully() -> None:
    """Past 16 samples per datagram or 12 records per sample, the walk goes on in Python."""
    frame = f.eth(0x0800, f.ip4("10.0.0.1", "10.0.0.2", 17, f.udp(1, 2)))
    samples = [f.flow_sample([f.raw_header(frame)], inif=i) for i in range(40)]
    many_records = [f.switch(0, 0)] * 20 + [f.raw_header(frame), f.switch(7, 8)]
    samples.append(f.flow_sample(many_records, inif=99))
    counters = struct.pack("!II", 2, 0)  # empty counter samples: skipped
    stats = Stats(METRICS)
    datagram = f.sflow(*([counters] * 30 + samples))
    rows = Decoder(stats).decode([make_envelope(datagram, EXPORTER)]).to_rows()
    assert sorted(r["InIf"] for r in rows) == [*range(40), 99]
    last = next(r for r in rows if r["InIf"] == 99)
    assert (last["SrcVlan"], last["DstVlan"], last["SrcAddr"]) == (7, 8, "10.0.0.1")
    assert not [k for k in stats.values if k[0] == P + "errors"]
    cut = datagram[: len(datagram) - 10]  # the last sample cut short: the 40 others remain
    rows = Decoder(stats).decode([make_envelope(cut, EXPORTER)]).to_rows()
    assert len(rows) == 40 and stats.get(P + "errors", ("192.0.2.50", "truncated")) == 1
