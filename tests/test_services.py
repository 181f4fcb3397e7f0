"""The service fixtures really start the services the integration tests rely on."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer


def test_kafka_broker_round_trip(kafka_broker):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    p = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    p.produce(topic, b"hello")
    assert p.flush(10) == 0
    c = Consumer(
        {
            "bootstrap.servers": kafka_broker.bootstrap,
            "group.id": "g",
            "auto.offset.reset": "earliest",
        }
    )
    c.assign([__import__("confluent_kafka").TopicPartition(topic, 0, 0)])
    msg = c.poll(10)
    c.close()
    assert msg is not None and msg.value() == b"hello"


def test_redis_answers(redis_server):
    import redis

    r = redis.Redis.from_url(redis_server.url)
    r.set("k", "v")
    assert r.get("k") == b"v"


def test_clickhouse_answers(clickhouse_server):
    assert clickhouse_server.client().execute("SELECT version()")[0][0].startswith("18.16")
