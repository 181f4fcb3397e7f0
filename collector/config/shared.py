"""Sections shared by several services: kafka, clickhouse, redis, each daemon's HTTP endpoint,
and the enrichment client's settings (`outlet.enrichment`, read by `enrich.client`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_serializer

from collector.config.model import ConfigModel
from collector.config.types import Duration, ListenAddress, RedisURL, ServerAddress
from collector.kafka.security import KafkaSASL, KafkaTLS

# Option names whose values are masked in `flowweir config dump`.
SECRET_OPTION_WORDS = ("password", "secret")


class HTTPConfig(ConfigModel):
    """Operations endpoint: /api/v0/<service>/metrics and /healthcheck."""

    # The management address and port to bind (keep it off the exporters' network).
    listen: ListenAddress = "127.0.0.1:8080"


class KafkaConfig(ConfigModel):
    brokers: list[ServerAddress] = Field(default_factory=lambda: ["127.0.0.1:9092"], min_length=1)
    # Base topic name; the envelope version is appended (flows -> flows-v1).
    topic: str = Field("flows", pattern=r"^[A-Za-z0-9._-]+$")
    client: Literal["confluent-kafka", "kafka-python-ng"] = "confluent-kafka"
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    # Topic settings applied by the orchestrator (partitions are only ever increased).
    partitions: int = Field(8, ge=1, le=10000)
    replication_factor: int = Field(1, ge=1, le=16)
    topic_config: dict[str, str] = Field(default_factory=dict)
    # Extra librdkafka / kafka-python options passed through unchanged (e.g. security settings);
    # values of options named like a secret (sasl.password, ssl.key.password) are not dumped.
    options: dict[str, str | int | float | bool] = Field(default_factory=dict, repr=False)
    # TLS and SASL towards the brokers (collector/kafka/security.py), for both clients.
    tls: KafkaTLS = Field(default_factory=KafkaTLS)
    sasl: KafkaSASL = Field(default_factory=KafkaSASL)

    @field_serializer("options", when_used="json")
    def _mask_options(self, v: dict[str, str | int | float | bool]) -> dict[str, object]:
        return {
            k: "**********" if any(w in k.lower() for w in SECRET_OPTION_WORDS) else x
            for k, x in v.items()
        }


class ClickHouseConfig(ConfigModel):
    servers: list[ServerAddress] = Field(default_factory=lambda: ["127.0.0.1:9000"], min_length=1)
    database: str = Field("flowweir", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    username: str = "default"
    # Never shown (dump, logs, messages); `.get_secret_value()` is the password.
    password: SecretStr = SecretStr("")
    # Wait for a connection or a query before treating the server as down.
    timeout: Duration = Field(10.0, gt=0)


class RedisConfig(ConfigModel):
    # redis://[user:password@]host:port/db, rediss://... (TLS) or unix:///path?db=N; the
    # password is never shown. `.url.get_secret_value()` is the URL to connect with.
    url: RedisURL = RedisURL("redis://127.0.0.1:6379/0")


class EnrichmentClientConfig(ConfigModel):
    """How an outlet reads exporter and interface metadata from the enrichment cache
    (section `outlet.enrichment`; the workers' side is the `enrich` section)."""

    # Longest wait for metadata the cache does not have yet.
    query_timeout: Duration = 0.2
    # During this window after start, a miss waits up to the end of the window instead
    # (caches warm up without losing flows).
    initial_delay: Duration = 60.0
    # A flow whose metadata is still missing: keep it (empty names) or reject it.
    missing: Literal["keep", "reject"] = "keep"
    # In-process cache in front of Redis: entry lifetime and size.
    local_cache_ttl: Duration = 10.0
    local_cache_size: int = Field(100_000, ge=1)
    # A refresh request stays deduplicated at most this long (a lost task is re-sent after it).
    request_ttl: Duration = 30.0
    # Celery queue the refresh tasks are sent to: must be the workers' `enrich.queue`.
    queue: str = Field("flowweir-enrich", pattern=r"^[A-Za-z0-9._-]+$")
