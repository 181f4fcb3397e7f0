"""The outlet daemon: supervises worker processes, each a member of the Kafka consumer group."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from typing import Any

from collector.config.root import Config
from collector.httpapi.server import OperationsServer
from collector.kafka.envelope import topic_name
from collector.metrics.aggregate import WorkerMetrics, make_registry, wait_until_ready
from collector.outlet.metrics import OUTLET_METRICS
from collector.outlet.worker import WorkerSpec, worker_main

log = logging.getLogger("flowweir.outlet")

RESTART_BACKOFF = 5.0


def topic_partitions(config: Config, timeout: float = 10.0) -> int | None:
    """Partitions of the flows topic, or None when Kafka cannot tell us (yet)."""
    from confluent_kafka.admin import AdminClient

    topic = topic_name(config.kafka.topic)
    try:
        meta = AdminClient(
            {"bootstrap.servers": ",".join(config.kafka.brokers), **config.kafka.options}
        ).list_topics(topic, timeout=timeout)
    except Exception as exc:
        log.warning("cannot read the metadata of topic %s: %s", topic, exc)
        return None
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        return None
    return len(info.partitions)


class OutletService:
    def __init__(self, config: Config, verbose: bool = False) -> None:
        self.config = config
        self.verbose = verbose
        self.ctx = multiprocessing.get_context("spawn")
        shared = WorkerMetrics(OUTLET_METRICS, self.ctx)
        self.metrics_queue, self.aggregator, self.stats, self.receiver = (
            shared.queue,
            shared.aggregator,
            shared.stats,
            shared.receiver,
        )
        self.aggregator.before_collect(self._refresh_gauges)
        self.processes: list[Any] = []
        self.last_restart: list[float] = []
        self.stop_event = threading.Event()
        self.http: OperationsServer | None = None

    def _refresh_gauges(self) -> None:
        self.stats.set(
            "flowweir_outlet_workers_running", (), sum(1 for p in self.processes if p.is_alive())
        )

    def health(self) -> tuple[bool, dict[str, Any]]:
        alive = sum(1 for p in self.processes if p.is_alive())
        ready = len(self.aggregator.sources() & {f"worker-{i}" for i in range(len(self.processes))})
        ok = not self.stop_event.is_set() and alive == ready == len(self.processes) > 0
        return ok, {"workers": len(self.processes), "alive": alive, "ready": ready}

    def start(self) -> None:
        out = self.config.outlet
        self.http = OperationsServer(
            "outlet", out.http.listen, make_registry(self.aggregator), self.health, 8081
        )
        workers = out.workers
        partitions = topic_partitions(self.config)
        if partitions is not None and workers > partitions:
            log.warning(
                "outlet.workers is %d but topic %s has %d partitions; starting %d workers "
                "(extra consumers would sit idle)",
                workers,
                topic_name(self.config.kafka.topic),
                partitions,
                partitions,
            )
            workers = partitions
        self.receiver.start()
        for i in range(workers):
            self.processes.append(self._spawn(i))
            self.last_restart.append(0.0)
        self.http.start()
        log.info(
            "outlet started: %d workers consuming %s as group %s",
            workers,
            topic_name(self.config.kafka.topic),
            out.consumer_group,
        )

    def _spawn(self, index: int) -> Any:
        proc = self.ctx.Process(
            target=worker_main,
            args=(WorkerSpec(index, self.config, self.verbose), self.metrics_queue),
            name=f"outlet-{index}",
        )
        proc.start()
        return proc

    def _restart_dead(self) -> None:
        for i, proc in enumerate(self.processes):
            if proc.is_alive() or self.stop_event.is_set():
                continue
            now = time.monotonic()
            if now - self.last_restart[i] < RESTART_BACKOFF:
                continue
            log.error("outlet worker %d exited (code %s); starting a new one", i, proc.exitcode)
            self.processes[i] = self._spawn(i)
            self.last_restart[i] = now
            self.stats.inc("flowweir_outlet_workers_restarts")

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        self.start()
        while not self.stop_event.wait(0.5):
            self._restart_dead()
        return self.stop()

    def stop(self) -> int:
        self.stop_event.set()
        log.info("stopping: inserting the last batches and committing")
        wait_until_ready(self.aggregator, {f"worker-{i}": p for i, p in enumerate(self.processes)})
        for p in self.processes:
            if p.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    p.terminate()
        code = 0
        for p in self.processes:
            p.join(30)
            if p.is_alive():
                log.error("%s did not stop in time; killing it", p.name)
                p.kill()
                p.join()
                code = 1
        self.receiver.stop()
        self.receiver.drain()
        if self.http:
            self.http.stop()
        log.info("outlet stopped")
        return code
