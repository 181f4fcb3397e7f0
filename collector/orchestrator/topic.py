"""The Kafka topic the inlet writes and the outlet reads: `<kafka.topic>-v<envelope version>`.

Created with `kafka.partitions`, `kafka.replication-factor` and `kafka.topic-config`.
Partitions are only ever increased (a topic with more is left alone: decreasing
is impossible in Kafka and the outlet copes with any count). Topic settings that
differ from the configuration are set with an incremental alter.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from collector.config.shared import KafkaConfig
from collector.kafka.envelope import topic_name
from collector.kafka.security import librdkafka_settings

log = logging.getLogger(__name__)


class KafkaUnreachable(Exception):
    """No broker answered; str() names the brokers (the caller adds the fix)."""


class _RdkafkaLogger:
    """librdkafka's own log lines go to debug: the orchestrator logs one clear line itself."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("collector.orchestrator.rdkafka")

    def log(self, level: int, fmt: str, *args: Any) -> None:
        self.logger.debug(fmt, *args)


def admin_config(config: KafkaConfig, timeout: float) -> dict[str, Any]:
    return {
        "socket.timeout.ms": int(timeout * 1000),
        **librdkafka_settings(config),  # brokers, TLS, SASL, then kafka.options
        "logger": _RdkafkaLogger(),
    }


@dataclass
class TopicReport:
    topic: str
    created: bool = False
    partitions: int = 0  # after the run
    partitions_increased: bool = False
    configs_altered: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.created or self.partitions_increased or bool(self.configs_altered)


class TopicManager:
    def __init__(self, config: KafkaConfig, timeout: float = 10.0, admin: Any = None) -> None:
        from confluent_kafka.admin import AdminClient

        self.config = config
        self.timeout = timeout
        self.topic = topic_name(config.topic)
        self.admin = admin or AdminClient(admin_config(config, timeout))

    @property
    def brokers(self) -> str:
        return ",".join(self.config.brokers)

    def _partitions(self) -> int | None:
        from confluent_kafka import KafkaException

        try:
            md = self.admin.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise KafkaUnreachable(
                f"Kafka {self.brokers} unreachable ({exc.args[0].str()})"
            ) from None
        t = md.topics.get(self.topic)
        if t is None or t.error is not None:
            return None
        return len(t.partitions)

    def ensure(self) -> TopicReport:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import NewPartitions, NewTopic

        report = TopicReport(self.topic)
        want = self.config.partitions
        have = self._partitions()
        if have is None:
            futures = self.admin.create_topics(
                [
                    NewTopic(
                        self.topic,
                        num_partitions=want,
                        replication_factor=self.config.replication_factor,
                        config=dict(self.config.topic_config),
                    )
                ],
                request_timeout=self.timeout,
            )
            try:
                futures[self.topic].result(self.timeout)
                report.created = True
                log.info("kafka: created topic %s with %d partitions", self.topic, want)
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:  # raced with another orchestrator
                    raise
            report.partitions = want
            return report
        report.partitions = have
        if have < want:
            futures = self.admin.create_partitions(
                [NewPartitions(self.topic, want)], request_timeout=self.timeout
            )
            try:
                futures[self.topic].result(self.timeout)
                report.partitions_increased = True
                report.partitions = want
                log.info("kafka: topic %s partitions %d -> %d", self.topic, have, want)
            except KafkaException as exc:
                msg = (
                    f"topic {self.topic} has {have} partitions, the configuration asks for {want}, "
                    f"and the broker refused to add them ({exc.args[0].str()}); add them with the "
                    "broker's tools or lower kafka.partitions"
                )
                log.warning("kafka: %s", msg)
                report.warnings.append(msg)
        elif have > want:
            log.info(
                "kafka: topic %s has %d partitions, more than the %d configured; left as is",
                self.topic,
                have,
                want,
            )
        if self.config.topic_config:
            self._sync_config(report)
        return report

    def _sync_config(self, report: TopicReport) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

        resource = ConfigResource("topic", self.topic)
        try:
            current = self.admin.describe_configs([resource], request_timeout=self.timeout)
            entries = next(iter(current.values())).result(self.timeout)
        except KafkaException as exc:
            msg = f"cannot read the settings of topic {self.topic}: {exc.args[0].str()}"
            log.warning("kafka: %s", msg)
            report.warnings.append(msg)
            return
        differ = {
            k: v
            for k, v in self.config.topic_config.items()
            if k not in entries or entries[k].value != str(v)
        }
        if not differ:
            return
        change = ConfigResource(
            "topic",
            self.topic,
            incremental_configs=[
                ConfigEntry(k, str(v), incremental_operation=AlterConfigOpType.SET)
                for k, v in differ.items()
            ],
        )
        try:
            for fut in self.admin.incremental_alter_configs(
                [change], request_timeout=self.timeout
            ).values():
                fut.result(self.timeout)
        except KafkaException as exc:
            msg = f"cannot set {', '.join(differ)} on topic {self.topic}: {exc.args[0].str()}"
            log.warning("kafka: %s", msg)
            report.warnings.append(msg)
            return
        report.configs_altered = sorted(differ)
        log.info("kafka: topic %s settings set: %s", self.topic, ", ".join(sorted(differ)))
