"""Collect the Stats of every process of a daemon into one Prometheus registry."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collector.metrics.stats import MetricSet, Snapshot, Stats


class Aggregator(Collector):
    """Holds the latest snapshot of every source (a worker process or the parent itself).

    Label values already distinguish sources (each worker labels its own series),
    so series with identical labels from two sources are summed.
    A source that died keeps its last snapshot: counters never go backwards.
    """

    def __init__(self, metrics: MetricSet) -> None:
        self.metrics = metrics
        self._lock = threading.Lock()
        self._snapshots: dict[str, Snapshot] = {}
        self._live: dict[str, Stats] = {}
        self._callbacks: list[Callable[[], None]] = []

    def update(self, source: str, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshots[source] = snapshot

    def sources(self) -> set[str]:
        """Sources that sent at least one snapshot (a worker that did is up and running)."""
        with self._lock:
            return set(self._snapshots)

    def attach(self, source: str, stats: Stats) -> None:
        """A Stats living in this process, read at each scrape."""
        with self._lock:
            self._live[source] = stats

    def before_collect(self, callback: Callable[[], None]) -> None:
        """Run `callback` before each scrape (to refresh gauges read from elsewhere)."""
        self._callbacks.append(callback)

    def merged(self) -> Snapshot:
        for cb in self._callbacks:
            cb()
        with self._lock:
            sources = list(self._snapshots.values()) + [s.snapshot() for s in self._live.values()]
        total: Snapshot = {}
        for snap in sources:
            for key, value in snap.items():
                total[key] = total.get(key, 0) + value
        return total

    def collect(self) -> Iterator[Metric]:
        merged = self.merged()
        by_name: dict[str, list[tuple[tuple[str, ...], float]]] = {}
        for (name, labels), value in merged.items():
            by_name.setdefault(name, []).append((labels, value))
        for name, d in sorted(self.metrics.defs.items()):
            family: Any
            if d.kind == "counter":
                family = CounterMetricFamily(name, d.help, labels=list(d.labels))
            else:
                family = GaugeMetricFamily(name, d.help, labels=list(d.labels))
            for labels, value in sorted(by_name.get(name, [])):
                family.add_metric(list(labels), value)
            yield family


class SnapshotReceiver:
    """Parent side: drains snapshots that worker processes put on a multiprocessing queue."""

    def __init__(self, aggregator: Aggregator, q: Any) -> None:
        self.aggregator = aggregator
        self.queue = q
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-receiver", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                source, snap = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return
            self.aggregator.update(source, snap)

    def drain(self) -> None:
        """Take every snapshot already queued (used at shutdown for the final values)."""
        while True:
            try:
                source, snap = self.queue.get_nowait()
            except (queue.Empty, EOFError, OSError):
                return
            self.aggregator.update(source, snap)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():  # a daemon that failed at start never started it
            self._thread.join(timeout=2)


def make_registry(aggregator: Aggregator) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(aggregator)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def wait_until_ready(
    aggregator: Aggregator, processes: dict[str, Any], timeout: float = 30.0
) -> None:
    """Wait until every live worker process sent its first snapshot (it is then past start-up)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = aggregator.sources()
        if all(name in ready or not proc.is_alive() for name, proc in processes.items()):
            return
        time.sleep(0.05)


class WorkerMetrics:
    """The parent's side of a daemon whose workers are processes: their snapshots arrive on
    `queue`, the parent's own values live in `stats`, `aggregator` serves them all."""

    def __init__(self, metrics: MetricSet, ctx: Any) -> None:
        self.queue = ctx.Queue()
        self.aggregator = Aggregator(metrics)
        self.stats = Stats(metrics)
        self.aggregator.attach("parent", self.stats)
        self.receiver = SnapshotReceiver(self.aggregator, self.queue)
