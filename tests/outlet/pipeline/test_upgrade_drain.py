"""Upgrading to envelope v2: an outlet that reads flows-v2 also drains and stores the v1 backlog."""

from __future__ import annotations

import contextlib
import socket
import time

from confluent_kafka import Producer

from collector.devservices.base import wait_for
from collector.generator.netflow9 import NetFlowV9Exporter
from collector.kafka.envelope import DecoderKind, Envelope, address_to_bytes

V1_EXPORTER = "192.0.2.10"  # the backlog's exporter; the inlet's datagrams come from 127.0.0.1


def _v1_backlog(bootstrap: str, topic: str, datagrams: list[bytes]) -> None:
    """What an inlet of the previous release left in Kafka: one v1 envelope per datagram."""
    key = address_to_bytes(V1_EXPORTER)
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": "lz4"})
    for payload in datagrams:
        envelope = Envelope(DecoderKind.NETFLOW, time.time_ns(), key, 2055, payload)
        producer.produce(topic, envelope.encode(), key)
    assert producer.flush(30) == 0


def _rows_by_exporter(pipeline) -> dict[str, int]:  # type: ignore[no-untyped-def]
    rows = pipeline.query(
        "SELECT IPv6NumToString(ExporterAddress) AS a, count() FROM flows GROUP BY a"
    )
    return {address.removeprefix("::ffff:"): int(n) for address, n in rows}


def test_an_outlet_reading_v2_drains_and_stores_the_v1_backlog(pipeline, kafka_broker):
    old_topic = pipeline.topic.removesuffix("-v2") + "-v1"
    kafka_broker.create_topic(old_topic, partitions=2)
    old = NetFlowV9Exporter(seed=11)
    backlog = [old.templates()] + [old.datagram(10)[0] for _ in range(30)]
    _v1_backlog(kafka_broker.bootstrap, old_topic, backlog)  # 300 flows

    pipeline.inlet()
    new = NetFlowV9Exporter(seed=12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for payload in [new.templates()] + [new.datagram(10)[0] for _ in range(20)]:
            sock.sendto(payload, ("127.0.0.1", pipeline.port))
            time.sleep(0.002)  # templates first, as an exporter sends them
    outlet = pipeline.outlet()
    expected = {V1_EXPORTER: 300, "127.0.0.1": 200}
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: _rows_by_exporter(pipeline) == expected, 90, "flows", interval=0.5)
    assert _rows_by_exporter(pipeline) == expected, outlet.log()
    assert f"reading {old_topic} (envelope v1) too" in outlet.log()
