"""The flows topic on a real Kafka-protocol broker (Tansu)."""

from __future__ import annotations

import uuid

from confluent_kafka.admin import AdminClient, ConfigResource

from collector.config.shared import KafkaConfig
from collector.kafka.envelope import ENVELOPE_VERSION
from collector.orchestrator.topic import TopicManager


def _config(broker, **kw) -> KafkaConfig:  # type: ignore[no-untyped-def]
    return KafkaConfig(brokers=[broker.bootstrap], topic=f"flows{uuid.uuid4().hex[:6]}", **kw)


def _topic_settings(broker, topic: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.describe_configs([ConfigResource("topic", topic)])
    return {k: v.value for k, v in next(iter(futures.values())).result(10).items()}


def _partitions(broker, topic: str) -> int:  # type: ignore[no-untyped-def]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    return len(admin.list_topics(timeout=10).topics[topic].partitions)


def test_topic_created_with_partitions_and_settings(kafka_broker) -> None:  # type: ignore[no-untyped-def]
    config = _config(kafka_broker, partitions=3, topic_config={"retention.ms": "3600000"})
    report = TopicManager(config).ensure()
    assert report.topic == f"{config.topic}-v{ENVELOPE_VERSION}"
    assert report.created and report.partitions == 3
    assert _partitions(kafka_broker, report.topic) == 3
    assert _topic_settings(kafka_broker, report.topic)["retention.ms"] == "3600000"
    again = TopicManager(config).ensure()
    assert not again.changed and again.warnings == []
    # A changed setting is applied to the existing topic.
    config.topic_config["retention.ms"] = "7200000"
    changed = TopicManager(config).ensure()
    assert changed.configs_altered == ["retention.ms"]
    assert _topic_settings(kafka_broker, report.topic)["retention.ms"] == "7200000"


def test_topic_with_more_partitions_is_left_alone(kafka_broker) -> None:  # type: ignore[no-untyped-def]
    config = _config(kafka_broker, partitions=2)
    kafka_broker.create_topic(f"{config.topic}-v{ENVELOPE_VERSION}", partitions=5)
    report = TopicManager(config).ensure()
    assert not report.changed and report.warnings == [] and report.partitions == 5
    assert _partitions(kafka_broker, report.topic) == 5


def test_partition_increase_requested(kafka_broker) -> None:  # type: ignore[no-untyped-def]
    """Tansu 0.6 has no CreatePartitions: the orchestrator must say so and carry on.

    On Apache Kafka the same call adds the partitions (report.partitions_increased);
    that path is not exercised here, no broker installable on this machine supports it.
    """
    config = _config(kafka_broker, partitions=2)
    TopicManager(config).ensure()
    config.partitions = 4
    report = TopicManager(config).ensure()
    if report.partitions_increased:  # a broker that supports it
        assert _partitions(kafka_broker, report.topic) == 4
    else:
        assert report.partitions == 2 and _partitions(kafka_broker, report.topic) == 2
        (warning,) = report.warnings
        assert "asks for 4" in warning and "kafka.partitions" in warning
