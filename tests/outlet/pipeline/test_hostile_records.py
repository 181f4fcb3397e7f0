"""Records that are not envelopes (a tombstone, a truncated envelope, a corrupt or a
bomb-sized LZ4 frame in a v2 message) between valid ones: counted and skipped, every
valid flow lands, no worker restarts, the partition keeps flowing."""

from __future__ import annotations

import time

import lz4.frame
from confluent_kafka import Producer

from collector.devservices.base import wait_for
from collector.generator.netflow9 import NetFlowV9Exporter
from collector.kafka.envelope import FLAG_LZ4, DecoderKind, Envelope, address_to_bytes
from tests.promtool import assert_clean_for_promtool

EXPORTER = address_to_bytes("192.0.2.10")


def envelope(payload: bytes) -> bytes:
    return Envelope(DecoderKind.NETFLOW, time.time_ns(), EXPORTER, 2055, payload).encode()


def compressed_v2(frame: bytes) -> bytes:
    """A v2 message of one datagram flagged LZ4-compressed, `frame` after its header."""
    return bytes([2, DecoderKind.NETFLOW, FLAG_LZ4, 0, 0, 0, 0, 1]) + EXPORTER + frame


def produce(bootstrap: str, topic: str, values: list[bytes | None]) -> None:
    """In this order, to one partition (one key): the outlet reads them in this order."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, value=value, key=EXPORTER)
    assert producer.flush(30) == 0


def test_tombstone_truncated_and_bad_lz4_records_are_counted_and_skipped(pipeline, kafka_broker):
    exporter = NetFlowV9Exporter(seed=7)
    first = [exporter.datagram(10) for _ in range(5)]
    second = [exporter.datagram(10) for _ in range(5)]
    truncated = envelope(first[0][0])[:20]  # shorter than the 32-byte header
    values: list[bytes | None] = [envelope(exporter.templates())]
    values += [envelope(data) for data, _ in first]
    values += [None, truncated]  # a tombstone, then a truncated envelope
    values += [compressed_v2(b"not an LZ4 frame")]  # corrupt: counted, skipped
    values += [compressed_v2(lz4.frame.compress(bytes(50_000_000)))]  # a bomb: refused unread
    values += [envelope(data) for data, _ in second]
    expected = sum(len(flows) for _, flows in first + second)

    outlet = pipeline.outlet(workers=1)
    produce(kafka_broker.bootstrap, pipeline.topic, values)

    assert pipeline.wait_rows("flows", expected) == expected
    corrupt = "flowweir_outlet_kafka_corrupt_records_total"
    assert outlet.wait_metric(corrupt, 1, reason="tombstone") == 1
    assert outlet.wait_metric(corrupt, 1, reason="truncated") == 1
    assert outlet.wait_metric(corrupt, 1, reason="compression") == 1
    assert outlet.wait_metric(corrupt, 1, reason="oversized") == 1
    assert outlet.metric_sum("flowweir_outlet_workers_restarts_total") == 0
    assert outlet.healthy()
    log = outlet.log()
    assert "Traceback" not in log and "exited (code" not in log
    assert log.count("not a flowweir envelope") == 4  # one line per reason, naming it
    assert "Kafka tombstone" in log


def test_outlet_metrics_endpoint_is_clean_for_promtool(pipeline):
    outlet = pipeline.outlet()
    wait_for(lambda: "flowweir_outlet_kafka_records_total" in outlet.metrics_text(), 10, "metrics")
    assert_clean_for_promtool(outlet.metrics_text())
