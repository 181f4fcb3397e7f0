"""Template and sampling state: data before template, options, refresh, withdrawal, persistence."""

from __future__ import annotations

import struct

import pytest
import redis

from collector.kafka.envelope import address_to_bytes as store_key
from collector.metrics.stats import Stats
from collector.outlet.decoder import (
    METRICS,
    Decoder,
    DecoderConfig,
    MemoryTemplateStore,
    RedisTemplateStore,
    decode_datagrams,
    make_envelope,
)
from collector.outlet.decoder.pcap import read_udp
from tests.outlet.decoder.helpers import NETFLOW, decode_files, netflow_paths

EXPORTER = "192.0.2.100"
NS = 1_000_000_000


def _payloads(name: str) -> list[bytes]:
    return [p for _, _, _, _, p in read_udp(NETFLOW / f"{name}.pcap")]


def _ipfix(sets: bytes, domain: int = 1) -> bytes:
    return struct.pack("!HHIII", 10, 16 + len(sets), 1_700_000_000, 1, domain) + sets


def _set(set_id: int, body: bytes) -> bytes:
    return struct.pack("!HH", set_id, 4 + len(body)) + body


def _template(tid: int, fields: list[tuple[int, int]]) -> bytes:
    body = struct.pack("!HH", tid, len(fields)) + b"".join(struct.pack("!HH", *f) for f in fields)
    return _set(2, body)


FIELDS = [(8, 4), (12, 4), (1, 4), (2, 4)]


def _records(*recs: tuple[str, str, int, int]) -> bytes:
    out = b""
    for src, dst, nbytes, npackets in recs:
        out += bytes(map(int, src.split("."))) + bytes(map(int, dst.split(".")))
        out += struct.pack("!II", nbytes, npackets)
    return out


def test_data_before_template_is_kept_and_decoded_later() -> None:
    stats = Stats(METRICS)
    decoder = Decoder(stats)
    data = decode_datagrams(_payloads("data"), EXPORTER, decoder)
    assert data.n == 0
    assert stats.get("flowweir_outlet_decoder_pending_flowsets") == 1
    later = decode_datagrams(_payloads("template"), EXPORTER, decoder)
    assert later.n == 4
    assert later.to_rows()[0]["SrcAddr"] == "198.38.121.178"
    assert stats.get("flowweir_outlet_decoder_pending_decoded_flowsets", (EXPORTER,)) == 1
    assert stats.get("flowweir_outlet_decoder_pending_flowsets") == 0


def test_data_before_template_is_bounded_and_expiry_counted() -> None:
    stats = Stats(METRICS)
    decoder = Decoder(stats, config=DecoderConfig(pending_max_flowsets=2, pending_max_age=10))
    data = _ipfix(_set(300, _records(("10.0.0.1", "10.0.0.2", 100, 1))))
    for i in range(5):  # count bound: 3 of 5 dropped
        decoder.feed(make_envelope(data, EXPORTER, receive_time_ns=i * NS))
    decoder.flush()
    assert stats.get("flowweir_outlet_decoder_pending_expired_flowsets", (EXPORTER,)) == 3
    assert stats.get("flowweir_outlet_decoder_errors", (EXPORTER, "template_missing")) == 3
    # age bound: a datagram 20 s later pushes the two kept ones out
    decoder.feed(make_envelope(_ipfix(_template(999, FIELDS)), EXPORTER, receive_time_ns=25 * NS))
    decoder.flush()
    assert stats.get("flowweir_outlet_decoder_pending_expired_flowsets", (EXPORTER,)) == 5
    assert stats.get("flowweir_outlet_decoder_pending_flowsets") == 0
    batch = decoder.decode([make_envelope(_ipfix(_template(300, FIELDS)), EXPORTER)])
    assert batch.n == 0  # expired data is not decoded after all


def test_options_template_sampling_rate() -> None:
    without = decode_files([NETFLOW / "template.pcap", NETFLOW / "data.pcap"])
    assert set(without.columns["SamplingRate"].tolist()) == {0}  # unknown: the outlet decides
    with_options = decode_files(netflow_paths("data"))
    assert set(with_options.columns["SamplingRate"].tolist()) == {30000}


def test_template_refresh_and_redefinition() -> None:
    decoder = Decoder()
    rec = _records(("10.0.0.1", "10.0.0.2", 1500, 3))
    first = decoder.decode(
        [make_envelope(_ipfix(_template(300, FIELDS) + _set(300, rec)), EXPORTER)]
    ).to_rows()
    assert (first[0]["SrcAddr"], first[0]["Bytes"], first[0]["Packets"]) == ("10.0.0.1", 1500, 3)
    # the same id redefined: packets first, then addresses swapped
    swapped = [(2, 4), (1, 4), (12, 4), (8, 4)]
    rec2 = struct.pack("!II", 7, 700) + bytes([10, 0, 0, 2]) + bytes([10, 0, 0, 1])
    second = decoder.decode(
        [make_envelope(_ipfix(_template(300, swapped) + _set(300, rec2)), EXPORTER)]
    ).to_rows()
    assert (second[0]["SrcAddr"], second[0]["DstAddr"]) == ("10.0.0.1", "10.0.0.2")
    assert (second[0]["Bytes"], second[0]["Packets"]) == (700, 7)


def test_template_withdrawal() -> None:
    stats = Stats(METRICS)
    store = MemoryTemplateStore()
    decoder = Decoder(stats, store)
    rec = _records(("10.0.0.1", "10.0.0.2", 1500, 3))
    assert decoder.decode([make_envelope(_ipfix(_template(300, FIELDS)), EXPORTER)]).n == 0
    withdraw = _set(2, struct.pack("!HH", 300, 0))
    batch = decoder.decode([make_envelope(_ipfix(withdraw + _set(300, rec)), EXPORTER)])
    assert batch.n == 0  # withdrawn: the data waits for a new template
    assert store.templates == {}
    assert stats.get("flowweir_outlet_decoder_templates", (EXPORTER,)) == 0
    assert stats.get("flowweir_outlet_decoder_pending_flowsets") == 1


def test_rfc5103_reverse_counters_give_a_second_flow() -> None:
    fields = b"".join(struct.pack("!HH", *f) for f in FIELDS)
    fields += struct.pack("!HHI", 0x8001, 4, 29305) + struct.pack("!HHI", 0x8002, 4, 29305)
    template = _set(2, struct.pack("!HH", 301, 6) + fields)
    rec = _records(("10.0.0.1", "10.0.0.2", 1000, 2)) + struct.pack("!II", 5000, 4)
    rows = decode_datagrams([_ipfix(template + _set(301, rec))], EXPORTER).to_rows()
    assert [(r["SrcAddr"], r["DstAddr"], r["Bytes"], r["Packets"]) for r in rows] == [
        ("10.0.0.1", "10.0.0.2", 1000, 2),
        ("10.0.0.2", "10.0.0.1", 5000, 4),
    ]


@pytest.fixture
def redis_url(redis_server) -> str:  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    return str(redis_server.url)


def test_state_survives_a_restart_through_redis(redis_url: str) -> None:
    first = Decoder(store=RedisTemplateStore.from_url(redis_url))
    for name in ("options-template", "options-data", "template"):
        decode_datagrams(_payloads(name), EXPORTER, first)
    del first
    # a new outlet process (or the one the exporter moved to after a rebalance)
    second = Decoder(store=RedisTemplateStore.from_url(redis_url))
    rows = decode_datagrams(_payloads("data"), EXPORTER, second).to_rows()
    assert len(rows) == 4
    assert rows[0]["SrcAddr"] == "198.38.121.178" and rows[0]["SamplingRate"] == 30000


def test_kept_data_decoded_when_another_outlet_stores_the_template(redis_url: str) -> None:
    config = DecoderConfig(template_miss_retry=0)  # ask the store again at every flush
    here = Decoder(store=RedisTemplateStore.from_url(redis_url), config=config)
    assert decode_datagrams(_payloads("data"), EXPORTER, here).n == 0  # kept, template unknown
    there = Decoder(store=RedisTemplateStore.from_url(redis_url))
    decode_datagrams(_payloads("template"), EXPORTER, there)  # lands on another outlet
    rows = here.flush().to_rows()  # the next flush finds it in Redis
    assert len(rows) == 4 and rows[0]["SrcAddr"] == "198.38.121.178"
    assert here.pending() == 0


def test_template_withdrawal_reaches_redis(redis_url: str) -> None:
    store = RedisTemplateStore.from_url(redis_url)
    decode_datagrams([_ipfix(_template(300, FIELDS))], EXPORTER, Decoder(store=store))
    assert store.load_template(store_key(EXPORTER), 1, 300) is not None
    withdraw = _set(2, struct.pack("!HH", 300, 0))
    decode_datagrams([_ipfix(withdraw)], EXPORTER, Decoder(store=store))
    assert store.load_template(store_key(EXPORTER), 1, 300) is None


def test_redis_outage_does_not_stop_decoding() -> None:
    stats = Stats(METRICS)
    store = RedisTemplateStore.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    decoder = Decoder(stats, store)
    batch = decode_files(netflow_paths("data"), decoder)
    assert batch.n == 4 and set(batch.columns["SamplingRate"].tolist()) == {30000}
    assert stats.get("flowweir_outlet_decoder_store_errors") > 0
