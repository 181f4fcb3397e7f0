"""The outlet daemon: supervises worker processes, each a member of the Kafka consumer group."""

from __future__ import annotations

import logging
from typing import Any

from collector.config.root import Config
from collector.kafka.envelope import topic_name
from collector.kafka.security import librdkafka_settings
from collector.outlet.clickhouse.writer import FIXES
from collector.outlet.metrics import OUTLET_METRICS
from collector.outlet.worker import WorkerSpec, worker_main
from collector.supervisor import Supervisor

log = logging.getLogger("flowweir.outlet")


def topic_partitions(config: Config, timeout: float = 10.0) -> int | None:
    """Partitions of the flows topic, or None when Kafka cannot tell us (yet)."""
    from confluent_kafka.admin import AdminClient

    topic = topic_name(config.kafka.topic)
    try:
        meta = AdminClient(librdkafka_settings(config.kafka, quiet=False)).list_topics(
            topic, timeout=timeout
        )
    except Exception as exc:
        log.warning("cannot read the metadata of topic %s: %s", topic, exc)
        return None
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        return None
    return len(info.partitions)


class OutletService(Supervisor):
    def __init__(self, config: Config, verbose: bool = False) -> None:
        super().__init__("outlet", OUTLET_METRICS, verbose)
        self.config = config
        self.processes: list[Any] = []

    def _refresh_gauges(self) -> None:
        self.stats.set(
            "flowweir_outlet_workers_running", (), sum(1 for p in self.processes if p.is_alive())
        )

    def health(self) -> tuple[bool, dict[str, Any]]:
        alive = sum(1 for p in self.processes if p.is_alive())
        ready = len(self.processes) - len(self.starting())
        ok = not self.stop_event.is_set() and alive == ready == len(self.processes) > 0
        details: dict[str, Any] = {"workers": len(self.processes), "alive": alive, "ready": ready}
        stopped = self.writers_stopped()
        if stopped:
            ok = False
            details["clickhouse"] = {
                kind: f"{count} workers stopped writing: {FIXES[kind]}, then restart the outlet"
                for kind, count in stopped.items()
            }
        return ok, details

    def writers_stopped(self) -> dict[str, int]:
        """Workers whose ClickHouse writer stopped for good, by kind of refusal."""
        stopped: dict[str, int] = {}
        for (name, labels), value in self.aggregator.merged().items():
            if name == "flowweir_outlet_clickhouse_writer_stopped" and value:
                stopped[labels[0]] = stopped.get(labels[0], 0) + int(value)
        return stopped

    def start(self) -> None:
        out = self.config.outlet
        self.http = self.serve("outlet", out.http.listen, self.health, 8081)
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
        self.http.start()
        log.info(
            "outlet started: %d workers consuming %s as group %s",
            workers,
            topic_name(self.config.kafka.topic),
            out.consumer_group,
        )

    def _spawn(self, index: int) -> Any:
        spec = WorkerSpec(index, self.config, self.verbose)
        return self.spawn(worker_main, (spec, self.metrics_queue), f"outlet-{index}")

    def workers(self) -> dict[str, Any]:
        return {f"worker-{i}": p for i, p in enumerate(self.processes)}

    def restart(self, name: str) -> None:
        index = int(name.removeprefix("worker-"))
        self.processes[index] = self._spawn(index)
        self.stats.inc("flowweir_outlet_workers_restarts")

    def stop(self) -> int:
        log.info("stopping: inserting the last batches and committing")
        code = self.stop_workers(30)
        log.info("outlet stopped")
        return code
