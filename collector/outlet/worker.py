"""One outlet worker: a consumer-group member that decodes, enriches and inserts batches.

Offsets are committed only after ClickHouse acknowledged the batch holding
their flows. A revocation flushes first; if ClickHouse is down at that moment
the batch is dropped from memory uncommitted, and the partition's next owner
reads it again: nothing is lost. A refusal retrying cannot fix (authentication,
schema, encoding) stops the worker's writing and consuming: it leaves the group
uncommitted and waits for SIGTERM, its metrics telling the healthcheck why.
A record that is not an envelope is counted by reason and skipped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from collector.config.root import Config
from collector.daemon import StartError, describe, run_worker
from collector.kafka.envelope import EnvelopeError, decode_envelope, topic_name
from collector.kafka.security import describe_error, librdkafka_settings
from collector.metrics.stats import Stats
from collector.outlet.clickhouse.writer import ClickHouseWriter, InsertRefused
from collector.outlet.core.enricher import Enricher
from collector.outlet.core.strings import ColumnData, concatenate
from collector.outlet.decoder import Decoder, MemoryTemplateStore, RedisTemplateStore
from collector.outlet.metrics import OUTLET_METRICS
from collector.schema.columns import COLUMNS

log = logging.getLogger("flowweir.outlet.worker")

DECODE_EVERY = 2000  # records fed to the decoder between two decode passes
PUBLISH_INTERVAL = 0.5
LAG_INTERVAL = 5.0
SHUTDOWN_INSERT_TIMEOUT = 10.0  # seconds SIGTERM waits for ClickHouse to take the last batch
P = "flowweir_outlet_kafka_"


@dataclass
class WorkerSpec:
    index: int
    config: Config
    verbose: bool = False


class OutletWorker:
    def __init__(self, spec: WorkerSpec, metrics_queue: Any) -> None:
        self.spec = spec
        self.config = spec.config
        self.out = spec.config.outlet
        self.queue = metrics_queue
        self.name = str(spec.index)
        self.stats = Stats(OUTLET_METRICS)
        self.stopping = False
        try:
            store: Any = (
                RedisTemplateStore.from_url(self.config.redis.url.get_secret_value())
                if self.out.template_store == "redis"
                else MemoryTemplateStore()
            )
            self.metadata = None
            if self.out.metadata == "enrich":
                from enrich.client import MetadataClient

                self.metadata = MetadataClient(self.out.enrichment, self.config.redis, self.stats)
        except ValueError as exc:  # redis-py refuses a malformed URL at once
            raise StartError(
                f"cannot use redis.url: {describe(exc)}; fix redis.url (redis://host:port/db)"
            ) from exc
        self.decoder = Decoder(self.stats, store, self.out.decoder)
        self.enricher = Enricher(self.out, self.stats, self.metadata)
        self.writer = ClickHouseWriter(
            self.config.clickhouse, self.stats, self.out.insert_backoff_max
        )
        self.topic = topic_name(self.config.kafka.topic)
        self._logged: set[str] = set()
        self.consumer = self._consumer()
        self._corrupt_logged: set[str] = set()
        self.refused: InsertRefused | None = None  # set when the writer stopped for good
        self._reset_batch()
        self.assigned: list[Any] = []

    def _consumer(self) -> Any:
        from confluent_kafka import Consumer, KafkaException

        try:
            return Consumer(
                {
                    "group.id": self.out.consumer_group,
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "auto.offset.reset": "earliest",
                    "session.timeout.ms": int(self.out.session_timeout * 1000),
                    "heartbeat.interval.ms": max(100, int(self.out.session_timeout * 1000 / 5)),
                    "max.poll.interval.ms": max(600_000, int(self.out.session_timeout * 2000)),
                    "error_cb": self._on_error,
                    **librdkafka_settings(self.config.kafka),  # brokers, TLS, SASL, options
                }
            )
        except (KafkaException, ValueError, TypeError) as exc:  # a bad kafka.options entry
            raise StartError(
                f"cannot create a Kafka consumer: {describe(exc)}; check kafka.brokers and "
                "kafka.options"
            ) from exc

    # --- batch state -----------------------------------------------------------
    def _reset_batch(self) -> None:
        self.chunks: list[dict[str, ColumnData]] = []
        self.flows = 0
        self.fed = 0
        self.offsets: dict[int, int] = {}  # partition -> last offset in the batch
        self.batch_started = time.monotonic()

    def _on_error(self, err: Any) -> None:
        if hasattr(err, "code"):  # librdkafka's: one line per kind (TLS, SASL, unreachable)
            key, text = describe_error(err)
        else:
            key = text = f"Kafka: {err} (check kafka.brokers)"
        if key not in self._logged and len(self._logged) < 100:
            self._logged.add(key)
            log.warning("%s", text)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self.assigned = list(partitions)
        self.stats.set(P + "assigned_partitions", (self.name,), len(partitions))
        log.info("worker %s assigned partitions %s", self.name, [p.partition for p in partitions])

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        self.stats.inc(P + "rebalances", (self.name,))
        if not self.flush(deadline=time.monotonic() + max(2.0, self.out.session_timeout / 2)):
            # ClickHouse is down (or refused it): forget the batch; its offsets were never
            # committed, the partition's next owner reads it again.
            if self.refused is None:
                self.stats.inc(P + "discarded_records", (self.name,), self.fed)
                log.warning(
                    "worker %s: ClickHouse down during a rebalance; %d records left to the "
                    "next owner",
                    self.name,
                    self.fed,
                )
            self.decoder.flush()  # drop queued envelopes too
            self._reset_batch()
        self.assigned = []
        self.stats.set(P + "assigned_partitions", (self.name,), 0)

    # --- processing ------------------------------------------------------------
    def decode_pending(self) -> None:
        batch = self.decoder.flush()
        if batch.n:
            cols = self.enricher.enrich(batch)
            n = len(cols["TimeReceived"])
            if n:
                self.chunks.append(cols)
                self.flows += n

    def flush(self, deadline: float | None = None) -> bool:
        """Insert the batch, then commit its offsets. False if ClickHouse did not accept it in time."""
        if self.refused is not None:
            return False
        self.decode_pending()
        if self.flows:
            columns = {c.name: concatenate([ch[c.name] for ch in self.chunks]) for c in COLUMNS}

            def should_stop() -> bool:
                if deadline is not None:
                    return time.monotonic() > deadline
                return (
                    self.stopping
                )  # SIGTERM during an outage: stop retrying, leave it uncommitted

            self._pause()
            try:
                ok = self.writer.insert(columns, should_stop, self._idle)
            except InsertRefused as refused:
                self._stop_writing(refused)
                return False
            self._resume()
            if not ok:
                return False
        self.commit()
        self._reset_batch()
        return True

    def _stop_writing(self, refused: InsertRefused) -> None:
        """ClickHouse refused the batch for good: stop consuming, commit nothing, say why.

        The consumer leaves the group with its offsets uncommitted, so whatever was read
        is read again once the cause is fixed and the outlet restarted.
        """
        self.refused = refused
        log.error(
            "worker %s: ClickHouse refused the batch (%s: %s); %s, then restart the outlet. "
            "This worker stops writing; %d records stay uncommitted in Kafka",
            self.name,
            refused.kind,
            refused,
            refused.fix,
            self.fed,
        )

    def _pause(self) -> None:
        if self.assigned:
            with contextlib.suppress(Exception):
                self.consumer.pause(self.assigned)

    def _resume(self) -> None:
        if self.assigned:
            with contextlib.suppress(Exception):
                self.consumer.resume(self.assigned)

    def _idle(self) -> None:
        """While ClickHouse is down: stay in the group (paused partitions deliver nothing)."""
        msgs = self.consumer.consume(100, timeout=0.2)
        if msgs:  # cannot happen while paused; keep them rather than lose them
            self._feed(msgs)
        self.publish()

    def commit(self) -> None:
        if not self.offsets:
            return
        from confluent_kafka import KafkaException, TopicPartition

        offsets = [TopicPartition(self.topic, p, o + 1) for p, o in self.offsets.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
            self.stats.inc(P + "commits", (self.name,))
        except KafkaException as exc:
            self.stats.inc(P + "commit_errors", (self.name,))
            log.warning(
                "worker %s: offset commit failed (%s); these flows may be inserted again",
                self.name,
                exc,
            )

    def _feed(self, msgs: list[Any]) -> None:
        feed = self.decoder.feed
        observe = self.enricher.observe  # notes each datagram's source (exporter trust)
        for msg in msgs:
            if msg.error() is not None:
                self._on_error(msg.error())
                continue
            self.offsets[msg.partition()] = msg.offset()
            try:
                feed(observe(decode_envelope(msg.value())))
            except EnvelopeError as exc:
                self._corrupt(msg, exc)
            self.fed += 1
        self.stats.inc(P + "records", (self.name,), len(msgs))

    def _corrupt(self, msg: Any, exc: EnvelopeError) -> None:
        """Count a record that is not an envelope and skip it; log the first of each reason."""
        self.stats.inc(P + "corrupt_records", (self.name, exc.reason))
        if exc.reason not in self._corrupt_logged:
            self._corrupt_logged.add(exc.reason)
            log.warning(
                "worker %s: skipping a record of topic %s that is not a flowweir envelope "
                "(partition %d, offset %d: %s); such records are counted in "
                "flowweir_outlet_kafka_corrupt_records_total",
                self.name,
                msg.topic(),
                msg.partition(),
                msg.offset(),
                exc,
            )

    def publish(self) -> None:
        if self.metadata is not None:
            self.metadata.flush_stats()
        self.stats.set(P + "uncommitted_records", (self.name,), self.fed)
        self.queue.put((f"worker-{self.name}", self.stats.snapshot()))

    def _update_lag(self) -> None:
        for tp in self.assigned:
            try:
                low, high = self.consumer.get_watermark_offsets(tp, timeout=1, cached=False)
                pos = self.consumer.position([tp])[0].offset
            except Exception:
                continue
            if pos >= 0:
                self.stats.set(
                    P + "consumer_lag_records", (self.name, str(tp.partition)), max(0, high - pos)
                )

    def run(self) -> int:
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        next_publish = next_lag = time.monotonic()
        since_decode = 0
        max_wait = self.out.maximum_wait_time
        max_size = self.out.maximum_batch_size
        while not self.stopping and self.refused is None:
            msgs = self.consumer.consume(1000, timeout=0.1)
            if msgs:
                self._feed(msgs)
                since_decode += len(msgs)
                if since_decode >= DECODE_EVERY:
                    self.decode_pending()
                    since_decode = 0
            now = time.monotonic()
            if self.flows >= max_size or (self.fed and now - self.batch_started >= max_wait):
                self.flush()
                since_decode = 0
            elif not self.fed:
                self.batch_started = now
            if now >= next_publish:
                self.publish()
                next_publish = now + PUBLISH_INTERVAL
            if now >= next_lag:
                self._update_lag()
                next_lag = now + LAG_INTERVAL
        return self.shutdown()

    def shutdown(self) -> int:
        if self.refused is None:
            ok = self.flush(deadline=time.monotonic() + SHUTDOWN_INSERT_TIMEOUT)
            if not ok and self.refused is None:
                log.error(
                    "worker %s: stopping with an uncommitted batch (ClickHouse down); "
                    "it will be read again",
                    self.name,
                )
        self.consumer.close()  # leaves the group: partitions move at once
        self.writer.close()
        self.enricher.close()
        if self.metadata is not None:
            self.metadata.close()
        self.publish()
        if self.refused is not None:
            self.wait_for_sigterm()
            return 1
        return 0

    def wait_for_sigterm(self) -> None:
        """The writer stopped for good: stay up (the health check tells why) until SIGTERM."""
        while not self.stopping:
            time.sleep(PUBLISH_INTERVAL)
            self.publish()


def worker_main(spec: WorkerSpec, metrics_queue: Any) -> None:
    """Entry point of a worker process (multiprocessing, spawn)."""
    run_worker(spec.verbose, lambda: OutletWorker(spec, metrics_queue), metrics_queue)
