"""Sections shared by several services: kafka, clickhouse, redis, and each daemon's HTTP endpoint."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from collector.config.model import ConfigModel, parse_hostport
from collector.kafka.security import KafkaSASL, KafkaTLS


class HTTPConfig(ConfigModel):
    """Operations endpoint: /api/v0/<service>/metrics and /healthcheck."""

    # The management address and port to bind (keep it off the exporters' network).
    listen: str = "127.0.0.1:8080"

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, v: str) -> str:
        parse_hostport(v, 8080)
        return v


class KafkaConfig(ConfigModel):
    brokers: list[str] = Field(default_factory=lambda: ["127.0.0.1:9092"], min_length=1)
    # Base topic name; the envelope version is appended (flows -> flows-v1).
    topic: str = Field("flows", pattern=r"^[A-Za-z0-9._-]+$")
    client: Literal["confluent-kafka", "kafka-python-ng"] = "confluent-kafka"
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    # Topic settings applied by the orchestrator (partitions are only ever increased).
    partitions: int = Field(8, ge=1, le=10000)
    replication_factor: int = Field(1, ge=1, le=16)
    topic_config: dict[str, str] = Field(default_factory=dict)
    # Extra librdkafka / kafka-python options passed through unchanged (they win over the rest).
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    # TLS and SASL towards the brokers (collector/kafka/security.py), for both clients.
    tls: KafkaTLS = Field(default_factory=KafkaTLS)
    sasl: KafkaSASL = Field(default_factory=KafkaSASL)

    @field_validator("brokers")
    @classmethod
    def _check_brokers(cls, v: list[str]) -> list[str]:
        for broker in v:
            host, _ = parse_hostport(broker, 9092)
            if not host:
                raise ValueError(f"broker {broker!r} has no host")
        return v


class ClickHouseConfig(ConfigModel):
    servers: list[str] = Field(default_factory=lambda: ["127.0.0.1:9000"], min_length=1)
    database: str = Field("flowweir", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    username: str = "default"
    password: str = ""
    # Seconds to wait for a connection or a query before treating the server as down.
    timeout: float = Field(10.0, gt=0)


class RedisConfig(ConfigModel):
    url: str = Field("redis://127.0.0.1:6379/0", pattern=r"^(redis|rediss|unix)://")
