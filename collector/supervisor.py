"""What the inlet and the outlet share as parents of worker processes: start, supervise, stop."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from typing import Any

from collector.daemon import EXIT_CANNOT_START, StartError
from collector.httpapi.server import OperationsServer
from collector.metrics.aggregate import WorkerMetrics, make_registry, wait_until_ready
from collector.metrics.stats import MetricSet

RESTART_BACKOFF = 5.0  # seconds between restarts of a worker that keeps dying


class Supervisor:
    """Subclasses start their workers in `start()`, name them in `workers()`, and replace a
    dead one in `restart(name)`; `run()` does the rest until SIGTERM."""

    def __init__(self, service: str, metrics: MetricSet, verbose: bool) -> None:
        self.log = logging.getLogger(f"flowweir.{service}")
        self.verbose = verbose
        self.ctx = multiprocessing.get_context("spawn")
        shared = WorkerMetrics(metrics, self.ctx)
        self.metrics_queue, self.aggregator, self.stats, self.receiver = (
            shared.queue,
            shared.aggregator,
            shared.stats,
            shared.receiver,
        )
        self.aggregator.before_collect(self._refresh_gauges)
        self.stop_event = threading.Event()
        self.http: OperationsServer | None = None
        self._last_restart: dict[str, float] = {}
        self.failed: str | None = None  # the worker that could not start, if one could not

    # --- for subclasses ------------------------------------------------------------
    def start(self) -> None:
        raise NotImplementedError

    def workers(self) -> dict[str, Any]:
        """Worker name (as it labels its metric snapshots) -> process."""
        raise NotImplementedError

    def restart(self, name: str) -> None:
        raise NotImplementedError

    def _refresh_gauges(self) -> None:
        return None

    # --- shared ----------------------------------------------------------------------
    def serve(
        self, service: str, listen: str, health: Any, default_port: int, reuse_port: bool = False
    ) -> OperationsServer:
        """Bind the operations endpoint, naming the key to change when it cannot."""
        try:
            return OperationsServer(
                service,
                listen,
                make_registry(self.aggregator),
                health,
                default_port,
                reuse_port=reuse_port,
            )
        except OSError as exc:
            raise StartError(
                f"cannot serve the operations endpoint on {listen} ({exc.strerror or exc}): "
                f"change {service}.http.listen or stop what uses that port"
            ) from None

    def spawn(self, target: Any, args: tuple[Any, ...], name: str) -> Any:
        proc = self.ctx.Process(target=target, args=args, name=name)
        proc.start()
        return proc

    def starting(self) -> list[str]:
        """Workers that have not sent their first metrics snapshot (not running yet)."""
        ready = self.aggregator.sources()
        return [name for name in self.workers() if name not in ready]

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        self.start()
        while not self.stop_event.wait(0.5):
            self._restart_dead()
        code = self.stop()
        return 1 if self.failed else code

    def _restart_dead(self) -> None:
        for name, proc in self.workers().items():
            if proc.is_alive() or self.stop_event.is_set():
                continue
            if proc.exitcode == EXIT_CANNOT_START:
                # It logged why; a new one would fail the same way every RESTART_BACKOFF.
                self.log.error("worker %s could not start (see above); stopping", name)
                self.failed = name
                self.stop_event.set()
                return
            now = time.monotonic()
            if now - self._last_restart.get(name, 0.0) < RESTART_BACKOFF:
                continue
            self.log.error("worker %s exited (code %s); starting a new one", name, proc.exitcode)
            self.restart(name)
            self._last_restart[name] = now

    def stop_workers(self, timeout: float) -> int:
        """SIGTERM every worker (each finishes its work), wait `timeout`, kill the late ones."""
        self.stop_event.set()
        procs = self.workers()
        # A worker still starting has no SIGTERM handler yet: let it get there first.
        wait_until_ready(self.aggregator, procs)
        for p in procs.values():
            if p.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    p.terminate()
        deadline = time.monotonic() + timeout
        code = 0
        for p in procs.values():
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                self.log.error("%s did not stop in time; killing it", p.name)
                p.kill()
                p.join()
                code = 1
            elif p.exitcode != 0:
                if p.exitcode != EXIT_CANNOT_START:  # that one said why already
                    self.log.error("%s exited with code %s", p.name, p.exitcode)
                code = 1
        self.receiver.stop()
        self.receiver.drain()
        if self.http:
            self.http.stop()
        return code

    def stop(self) -> int:
        raise NotImplementedError
