"""One inlet worker process: read its socket, wrap datagrams, produce them to Kafka.

Each receive call gives one Kafka message (envelope v2) per exporter it read from.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from collector.config.shared import KafkaConfig
from collector.daemon import StartError, describe, run_worker
from collector.inlet.allowlist import AllowList
from collector.inlet.config import InletConfig, InputConfig
from collector.inlet.metrics import INLET_METRICS
from collector.inlet.receiver import BATCH, Batch, BatchReceiver
from collector.kafka.envelope import (
    FLAG_CLOCK_TIMESTAMP,
    FLAG_USE_SRC_ADDR,
    Decapsulation,
    DecoderKind,
    TimestampSource,
    bytes_to_address,
    topic_name,
)
from collector.kafka.producer import KafkaUnavailable, make_producer
from collector.metrics.stats import Stats

log = logging.getLogger("flowweir.inlet.worker")

PUBLISH_INTERVAL = 0.5  # seconds between metric snapshots sent to the parent
RECEIVE_TIMEOUT = 0.2  # seconds a blocked recvmmsg waits before checking for shutdown


@dataclass
class InletWorkerSpec:
    listener: str
    index: int
    input: InputConfig
    inlet: InletConfig
    kafka: KafkaConfig
    kernel_timestamps: bool
    verbose: bool = False

    @property
    def name(self) -> str:
        return f"{self.listener}#{self.index}"


# Receive buffer per millisecond of batch-wait (what a worker sleeping that long may find in
# its socket: 1,000 datagrams/ms of 4 KiB, the kernel's size of a 1.5 KB datagram); a
# smaller buffer shortens the wait, under 1 ms of it disables it.
BATCH_WAIT_BUFFER_PER_MS = 4 * 1024 * 1024


class Worker:
    def __init__(self, spec: InletWorkerSpec, sock: socket.socket, metrics_queue: Any) -> None:
        self.spec = spec
        self.sock = sock
        self.queue = metrics_queue
        self.stopping = False
        self.stats = Stats(INLET_METRICS)
        flags = 0 if spec.kernel_timestamps else FLAG_CLOCK_TIMESTAMP
        if spec.input.use_src_addr_for_exporter_addr:
            flags |= FLAG_USE_SRC_ADDR
        ts_source = TimestampSource[spec.input.timestamp_source.upper().replace("-", "_")]
        # kafka.compression lz4: the worker compresses each message (envelope v2 flag bit 2),
        # the Kafka client sends it as it is (codec none); other codecs stay the client's.
        acceleration = spec.inlet.lz4_acceleration if spec.kafka.compression == "lz4" else 0
        self.receiver = BatchReceiver(
            sock,
            spec.inlet.max_datagram_size,
            DecoderKind[spec.input.decoder.upper()],
            flags,
            ts_source,
            Decapsulation[spec.input.decapsulation.upper()],
            acceleration,
        )
        self.topic = topic_name(spec.kafka.topic)
        try:
            self.producer = make_producer(
                spec.kafka,
                spec.inlet.queue_size,
                spec.inlet.queue_bytes,
                "none" if acceleration else None,
            )
        except KafkaUnavailable as exc:  # kafka-python-ng, when no broker answers
            raise StartError(str(exc)) from exc
        except Exception as exc:  # a client refusing its settings
            raise StartError(
                f"cannot create a Kafka producer ({spec.kafka.client}) for "
                f"{','.join(spec.kafka.brokers)}: {describe(exc)}; "
                "check kafka.brokers, kafka.options and that a broker is up"
            ) from exc
        self.producer.warm_up(self.topic, 10)
        self.keyed = spec.inlet.kafka_key == "exporter"
        # Cumulative counts kept in plain ints on the hot path, folded into Stats on publish.
        self.datagrams = 0
        self.receive_calls = 0
        self.bytes = 0
        self.too_large = 0
        self.queue_full = 0
        self.enqueued = 0
        self.kernel_drops = 0
        self.not_allowed = 0
        self.per_exporter: dict[bytes, int] = {}
        self._exporter_names: dict[bytes, str] = {}
        self.allow = AllowList(spec.inlet.exporters)
        self._refused_logged: set[bytes] = set()
        self._clock_warned = not spec.kernel_timestamps

    def handle(self, batch: Batch) -> None:
        """Hot path: one Kafka produce per exporter of the batch, counting in locals."""
        produce = self.producer.produce
        topic = self.topic
        keyed = self.keyed
        per_exporter = self.per_exporter
        everything = self.allow.everything
        queue_full = enqueued = refused = 0
        deadline = 0.0  # set at the first full queue of this batch
        for key, value, count in batch.messages:
            if not everything and not self.allow.allowed(key):
                refused += count
                self._log_refused(key)
                continue
            per_exporter[key] = per_exporter.get(key, 0) + count
            try:
                produce(topic, value, key if keyed else None)
                enqueued += 1
            except BufferError:
                deadline = deadline or time.monotonic() + self.spec.inlet.queue_full_wait
                if self._produce_when_room(value, key if keyed else None, deadline):
                    enqueued += 1
                else:
                    queue_full += count
        self.receive_calls += 1
        self.datagrams += batch.datagrams + batch.too_large
        self.not_allowed += refused
        self.bytes += batch.bytes_received
        self.too_large += batch.too_large
        self.queue_full += queue_full
        self.enqueued += enqueued
        if batch.kernel_drops > self.kernel_drops:
            self.kernel_drops = batch.kernel_drops
        self.producer.poll()

    def _log_refused(self, source: bytes) -> None:
        if source not in self._refused_logged and len(self._refused_logged) < 10:
            self._refused_logged.add(source)
            log.warning(
                "%s: datagrams from %s dropped: not in inlet.exporters (counted as "
                "not_allowed; add its subnet there to accept it)",
                self.spec.name,
                bytes_to_address(source),
            )

    def _produce_when_room(self, value: bytes, key: bytes | None, deadline: float) -> bool:
        """The queue is full (Kafka slow or away): wait for room until `deadline`.

        While the worker waits the datagrams queue up in the socket's receive buffer,
        which is much larger than the producer queue; a short Kafka hiccup costs nothing.
        """
        while (left := deadline - time.monotonic()) > 0:
            self.producer.wait_for_room(min(left, 0.005))
            try:
                self.producer.produce(self.topic, value, key)
                return True
            except BufferError:
                continue
        return False

    def publish(self) -> None:
        s = self.stats
        lw = (self.spec.listener, str(self.spec.index))
        w = (self.spec.name,)
        s.set("flowweir_inlet_udp_datagrams", lw, self.datagrams)
        s.set("flowweir_inlet_udp_bytes", lw, self.bytes)
        s.set("flowweir_inlet_udp_receive_calls", lw, self.receive_calls)
        s.set("flowweir_inlet_udp_drops", (*lw, "kernel"), self.kernel_drops)
        s.set("flowweir_inlet_udp_drops", (*lw, "queue_full"), self.queue_full)
        s.set("flowweir_inlet_udp_drops", (*lw, "too_large"), self.too_large)
        s.set("flowweir_inlet_udp_drops", (*lw, "not_allowed"), self.not_allowed)
        s.set("flowweir_inlet_kafka_enqueued_messages", w, self.enqueued)
        s.set("flowweir_inlet_kafka_queue_messages", w, self.producer.queue_length())
        s.set("flowweir_inlet_kafka_queue_capacity_messages", w, self.spec.inlet.queue_size)
        s.set("flowweir_inlet_kafka_delivery_errors", w, self.producer.delivery_errors())
        s.set(
            "flowweir_inlet_udp_kernel_timestamps", lw, 1 if self.receiver.kernel_timestamps else 0
        )
        for key, count in self.per_exporter.items():
            name = self._exporter_names.get(key)
            if name is None:
                name = self._exporter_names[key] = bytes_to_address(key)
            s.set("flowweir_inlet_udp_exporter_datagrams", (self.spec.listener, name), count)
        if not self.receiver.kernel_timestamps and not self._clock_warned:
            self._clock_warned = True
            log.warning(
                "%s: some datagrams came without a kernel timestamp; using the clock",
                self.spec.name,
            )
        self.queue.put((self.spec.name, s.snapshot()))

    def _batch_wait(self) -> float:
        wait = self.spec.inlet.batch_wait
        real = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        room = real // BATCH_WAIT_BUFFER_PER_MS / 1000  # seconds of batch-wait the buffer takes
        if wait and room < 0.001:
            log.info(
                "%s: receive buffer %d bytes is under %d: batch-wait disabled",
                self.spec.name,
                real,
                BATCH_WAIT_BUFFER_PER_MS,
            )
            return 0.0
        if wait > room:
            log.info(
                "%s: receive buffer %d bytes: batch-wait %g ms instead of %g (%d bytes a ms)",
                self.spec.name,
                real,
                room * 1000,
                wait * 1000,
                BATCH_WAIT_BUFFER_PER_MS,
            )
            return room
        return wait

    def run(self) -> int:
        next_publish = time.monotonic()
        receive = self.receiver.receive
        wait = self._batch_wait()
        sleep = time.sleep
        while not self.stopping:
            batch = receive(True)
            if batch is not None:
                self.handle(batch)
                if wait and batch.datagrams + batch.too_large < BATCH:
                    sleep(wait)  # the socket is empty: let the kernel queue a full batch
            else:
                self.producer.poll()
            now = time.monotonic()
            if now >= next_publish:
                self.publish()
                next_publish = now + PUBLISH_INTERVAL
        return self.shutdown()

    def shutdown(self) -> int:
        """Drain what the socket still holds, then flush the producer."""
        deadline = time.monotonic() + self.spec.inlet.shutdown_timeout / 2
        while time.monotonic() < deadline:
            batch = self.receiver.receive(False)
            if batch is None:
                break
            self.handle(batch)
        self.sock.close()
        remaining = self.producer.close(
            max(0.5, deadline - time.monotonic() + self.spec.inlet.shutdown_timeout / 2)
        )
        if remaining:
            log.error("%s: %d Kafka messages not delivered at shutdown", self.spec.name, remaining)
            self.queue_full += remaining  # messages: a lower bound of the datagrams lost
        self.publish()
        return 0 if remaining == 0 else 1


def worker_main(spec: InletWorkerSpec, sock: socket.socket, metrics_queue: Any) -> None:
    """Entry point of a worker process (multiprocessing, spawn)."""

    def build() -> Worker:
        sock.setblocking(True)
        timeout = struct.pack("ll", 0, int(RECEIVE_TIMEOUT * 1e6))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)
        return Worker(spec, sock, metrics_queue)

    run_worker(spec.verbose, build, metrics_queue)
