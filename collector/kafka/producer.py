"""A Kafka producer with one call shape for both supported clients.

`produce(topic, value, key)` never blocks: when the bounded queue is full it
raises BufferError (confluent-kafka's own behaviour), and the caller counts the
datagram as dropped. Delivery failures are counted, never raised.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from collector.config.shared import KafkaConfig
from collector.kafka.security import describe_error, kafka_python_settings, librdkafka_settings

log = logging.getLogger(__name__)


class KafkaUnavailable(Exception):
    """No broker could be reached when the client was built; str() names the fix."""


class RawProducer(Protocol):
    # produce(topic, value, key): raises BufferError when the queue is full.
    produce: Callable[..., None]

    def poll(self) -> None: ...
    def wait_for_room(self, timeout: float) -> None: ...
    def warm_up(self, topic: str, timeout: float) -> None: ...
    def flush(self, timeout: float) -> int: ...
    def queue_length(self) -> int: ...
    def delivery_errors(self) -> int: ...
    def close(self, timeout: float) -> int: ...


class ConfluentProducer:
    """librdkafka: batching, compression and sending happen in its own threads.

    `codec`: the Kafka compression codec, kafka.compression unless given (the inlet sends
    messages it compressed itself with "none").
    """

    def __init__(
        self, cfg: KafkaConfig, queue_messages: int, queue_bytes: int, codec: str | None = None
    ) -> None:
        from confluent_kafka import Producer

        self._errors = 0
        self._logged: set[str] = set()
        self._all_down: tuple[float, str] | None = None
        conf: dict[str, Any] = {
            "compression.type": codec or cfg.compression,
            "queue.buffering.max.messages": queue_messages,
            "queue.buffering.max.kbytes": max(1, queue_bytes // 1024),
            # Several v2 messages (MAX_MESSAGE_BYTES each) per produce request: fewer requests
            # for librdkafka's broker thread (bench/README.md, "## inlet"); under Kafka's
            # default message.max.bytes (1 MB) with the framing.
            "linger.ms": 50,
            "batch.size": 524_288,
            "acks": "all",
            "enable.idempotence": False,
            "delivery.report.only.error": True,
            "on_delivery": self._on_delivery,
            "error_cb": self._on_error,
            **librdkafka_settings(cfg),  # brokers, TLS, SASL, then kafka.options
        }
        self._producer = Producer(conf)
        self.produce: Callable[..., None] = self._producer.produce  # hot path: the C method itself

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._errors += 1
            self._log_once(f"delivery to Kafka failed: {err}")

    def _on_error(self, err: Any) -> None:
        kind, message = describe_error(err)
        if kind == "all-down":
            # librdkafka says this before or after the line that says why (TLS, SASL, a
            # refused connection): keep it for a second, logged only if nothing else came.
            self._all_down = self._all_down or (time.monotonic(), message)
            return
        self._log_once(message, kind)

    def _log_pending(self) -> None:
        if self._all_down and time.monotonic() - self._all_down[0] > 1.0:
            if not self._logged:
                self._log_once(self._all_down[1], "all-down")
            self._all_down = None

    def _log_once(self, message: str, kind: str | None = None) -> None:
        key = kind or message  # one line per kind of client error, not per retry
        if key not in self._logged and len(self._logged) < 100:
            self._logged.add(key)
            log.warning("%s", message)

    def poll(self) -> None:
        self._producer.poll(0)
        if self._all_down:
            self._log_pending()

    def wait_for_room(self, timeout: float) -> None:
        """Block up to `timeout` s while librdkafka sends (the queue is full)."""
        self._producer.poll(timeout)

    def warm_up(self, topic: str, timeout: float) -> None:
        return None  # librdkafka queues messages while it fetches metadata

    def flush(self, timeout: float) -> int:
        return int(self._producer.flush(timeout))

    def queue_length(self) -> int:
        return len(self._producer)

    def delivery_errors(self) -> int:
        return self._errors

    def close(self, timeout: float) -> int:
        return self.flush(timeout)


class KafkaPythonProducer:
    """kafka-python-ng: pure Python, slower; kept for hosts where librdkafka is not wanted."""

    def __init__(
        self, cfg: KafkaConfig, queue_messages: int, queue_bytes: int, codec: str | None = None
    ) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaTimeoutError, NoBrokersAvailable, UnrecognizedBrokerVersion

        if not log.isEnabledFor(logging.DEBUG):
            # kafka-python logs every failed reconnection (with tracebacks): one line of ours
            # says what is wrong instead (`flowweir ... -v` shows them).
            logging.getLogger("kafka").setLevel(logging.CRITICAL)
        self._timeout_error = KafkaTimeoutError
        self._errors = 0
        self._pending = 0
        self._max_pending = queue_messages
        self._lock = threading.Lock()
        codec = codec or cfg.compression
        settings: dict[str, Any] = {
            "compression_type": None if codec == "none" else codec,
            "buffer_memory": queue_bytes,
            "max_block_ms": 10_000,  # for warm_up() only; set to 0 afterwards
            "linger_ms": 20,
            "batch_size": 1_000_000,
            "acks": "all",
            **kafka_python_settings(cfg),  # brokers, TLS, SASL, then kafka.options
        }
        try:
            self._producer = KafkaProducer(**settings)
        except (NoBrokersAvailable, UnrecognizedBrokerVersion):
            # kafka-python asks a broker for its version while it is built.
            raise KafkaUnavailable(
                f"no Kafka broker answered at {', '.join(cfg.brokers)} over "
                f"{settings['security_protocol']} (check kafka.brokers, kafka.tls, kafka.sasl)"
            ) from None
        self.produce: Callable[..., None] = self._send

    def _done(self, _result: Any = None) -> None:
        with self._lock:
            self._pending -= 1

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self._pending -= 1
            self._errors += 1
        log.warning("delivery to Kafka failed: %s", exc)

    def _send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        if self._pending >= self._max_pending:
            raise BufferError("producer queue full")
        try:
            future = self._producer.send(topic, value=value, key=key)
        except self._timeout_error as exc:
            raise BufferError(str(exc)) from None
        with self._lock:
            self._pending += 1
        future.add_callback(self._done)
        future.add_errback(self._failed)

    def poll(self) -> None:
        return None

    def wait_for_room(self, timeout: float) -> None:
        time.sleep(timeout)  # kafka-python sends from its own thread

    def warm_up(self, topic: str, timeout: float) -> None:
        """kafka-python's send() waits for the topic's metadata; fetch it now, then never block."""
        try:
            self._producer.partitions_for(topic)
        except self._timeout_error:
            log.warning(
                "no metadata for topic %s yet (check kafka.brokers); datagrams will be dropped until it comes",
                topic,
            )
        # send() reads max_block_ms at every call: from now on a full buffer raises at once.
        self._producer.config["max_block_ms"] = 0

    def flush(self, timeout: float) -> int:
        with contextlib.suppress(self._timeout_error):
            self._producer.flush(timeout=timeout)
        return self._pending

    def queue_length(self) -> int:
        return self._pending

    def delivery_errors(self) -> int:
        return self._errors

    def close(self, timeout: float) -> int:
        remaining = self.flush(timeout)
        self._producer.close(timeout=1)
        return remaining


def make_producer(
    cfg: KafkaConfig, queue_messages: int, queue_bytes: int, codec: str | None = None
) -> RawProducer:
    """The producer of kafka.client; `codec` overrides kafka.compression (see ConfluentProducer)."""
    if cfg.client == "kafka-python-ng":
        return KafkaPythonProducer(cfg, queue_messages, queue_bytes, codec)
    return ConfluentProducer(cfg, queue_messages, queue_bytes, codec)
