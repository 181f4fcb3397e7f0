"""The inlet daemon: opens the listeners, loads eBPF, supervises one process per worker."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from collector.config.root import Config
from collector.httpapi.server import OperationsServer
from collector.inlet import ebpf
from collector.inlet.config import InputConfig
from collector.inlet.metrics import INLET_METRICS
from collector.inlet.udp import ListenerSocket, open_listener_group, open_listener_socket, rmem_max
from collector.inlet.worker import WorkerSpec, worker_main
from collector.metrics.aggregate import WorkerMetrics, make_registry, wait_until_ready

log = logging.getLogger("flowweir.inlet")

RESTART_BACKOFF = 5.0  # seconds between restarts of a worker that keeps dying


@dataclass
class Listener:
    input: InputConfig
    label: str
    sockets: list[ListenerSocket]
    program: ebpf.LoadResult
    processes: list[Any] = field(default_factory=list)
    last_restart: list[float] = field(default_factory=list)


class InletService:
    def __init__(self, config: Config, verbose: bool = False) -> None:
        self.config = config
        self.verbose = verbose
        self.ctx = multiprocessing.get_context("spawn")
        shared = WorkerMetrics(INLET_METRICS, self.ctx)
        self.metrics_queue, self.aggregator, self.stats, self.receiver = (
            shared.queue,
            shared.aggregator,
            shared.stats,
            shared.receiver,
        )
        self.aggregator.before_collect(self._refresh_gauges)
        self.listeners: list[Listener] = []
        self.stop_event = threading.Event()
        self.http: OperationsServer | None = None

    # --- start -------------------------------------------------------------
    def start(self) -> None:
        cfg = self.config.inlet
        # Bind the operations endpoint first: a port conflict is a config error worth failing on.
        self.http = OperationsServer(
            "inlet", cfg.http.listen, make_registry(self.aggregator), self.health, default_port=8080
        )
        for inp in cfg.inputs:
            self.listeners.append(self._open(inp))
        self.receiver.start()
        for listener in self.listeners:
            for index in range(len(listener.sockets)):
                listener.processes.append(self._spawn(listener, index))
                listener.last_restart.append(0.0)
            # The workers hold their own duplicates; closing ours lets a dead worker's
            # socket really close (and leave the group) instead of silently queueing.
            for ls in listener.sockets:
                ls.sock.close()
        self.http.start()
        log.info(
            "inlet started: %s",
            ", ".join(
                f"{lst.input.decoder} on {lst.label} ({len(lst.sockets)} workers)"
                for lst in self.listeners
            ),
        )

    def _open(self, inp: InputConfig) -> Listener:
        host, port = inp.address
        sockets = open_listener_group(host, port, inp.workers, inp.receive_buffer)
        label = inp.listen
        first = sockets[0]
        if first.buffer_capped:
            log.warning(
                "%s: receive buffer capped at %d bytes instead of %d; raise net.core.rmem_max "
                "(now %s) or run with CAP_NET_ADMIN so SO_RCVBUFFORCE works",
                label,
                first.receive_buffer,
                inp.receive_buffer,
                rmem_max(),
            )
        if not first.kernel_timestamps:
            log.warning(
                "%s: kernel has no SO_TIMESTAMPNS_NEW (Linux < 5.0); receive times come from the clock",
                label,
            )
        if self.config.inlet.ebpf and inp.workers > 1:
            program = ebpf.load_isolated([s.sock for s in sockets])
            if program.loaded:
                log.info("%s: eBPF round-robin over %d workers attached", label, inp.workers)
            else:
                log.warning(
                    "%s: eBPF not loaded (%s); the kernel's hash spreads datagrams",
                    label,
                    program.reason,
                )
        else:
            reason = "disabled in config" if not self.config.inlet.ebpf else "one worker"
            program = ebpf.LoadResult(False, reason)
        for i, s in enumerate(sockets):
            self.stats.set(
                "flowweir_inlet_udp_receive_buffer_bytes", (label, str(i)), s.receive_buffer
            )
        self.stats.set("flowweir_inlet_ebpf_loaded", (label,), 1 if program.loaded else 0)
        return Listener(inp, label, sockets, program)

    def _spawn(self, listener: Listener, index: int, sock: ListenerSocket | None = None) -> Any:
        ls = sock or listener.sockets[index]
        spec = WorkerSpec(
            listener.label,
            index,
            listener.input,
            self.config.inlet,
            self.config.kafka,
            ls.kernel_timestamps,
            self.verbose,
        )
        proc = self.ctx.Process(
            target=worker_main,
            args=(spec, ls.sock, self.metrics_queue),
            name=f"inlet-{spec.name}",
            daemon=False,
        )
        proc.start()
        return proc

    # --- supervision ---------------------------------------------------------
    def _refresh_gauges(self) -> None:
        for lst in self.listeners:
            alive = sum(1 for p in lst.processes if p.is_alive())
            self.stats.set("flowweir_inlet_workers_running", (lst.label,), alive)

    def health(self) -> tuple[bool, dict[str, Any]]:
        details = {
            lst.label: {
                "decoder": lst.input.decoder,
                "workers": len(lst.processes),
                "alive": sum(1 for p in lst.processes if p.is_alive()),
                "ebpf": lst.program.loaded,
                **({"ebpf_reason": lst.program.reason} if not lst.program.loaded else {}),
            }
            for lst in self.listeners
        }
        ready = self.aggregator.sources()
        starting = [
            f"{lst.label}#{i}"
            for lst in self.listeners
            for i in range(len(lst.processes))
            if f"{lst.label}#{i}" not in ready
        ]
        alive = all(d["alive"] == d["workers"] for d in details.values())
        ok = not self.stop_event.is_set() and alive and not starting
        return ok, {"listeners": details, **({"starting": starting} if starting else {})}

    def _restart_dead(self) -> None:
        for lst in self.listeners:
            for index, proc in enumerate(lst.processes):
                if proc.is_alive() or self.stop_event.is_set():
                    continue
                now = time.monotonic()
                if now - lst.last_restart[index] < RESTART_BACKOFF:
                    continue
                log.error(
                    "%s worker %d exited (code %s); starting a new one",
                    lst.label,
                    index,
                    proc.exitcode,
                )
                host, port = lst.input.address
                new = open_listener_socket(host, port, lst.input.receive_buffer)
                if lst.program.map_fd is not None:
                    ebpf.update_socket(lst.program.map_fd, index, new.sock)
                lst.processes[index] = self._spawn(lst, index, new)
                new.sock.close()
                lst.last_restart[index] = now
                self.stats.inc("flowweir_inlet_workers_restarts", (lst.label,))

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        self.start()
        while not self.stop_event.wait(0.5):
            self._restart_dead()
        return self.stop()

    def stop(self) -> int:
        self.stop_event.set()
        log.info("stopping: draining sockets and flushing Kafka")
        procs = [p for lst in self.listeners for p in lst.processes]
        names = [f"{lst.label}#{i}" for lst in self.listeners for i in range(len(lst.processes))]
        # A worker still starting has no SIGTERM handler yet: let it get there first.
        wait_until_ready(self.aggregator, dict(zip(names, procs, strict=True)))
        for p in procs:
            if p.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    p.terminate()  # SIGTERM: the worker drains, flushes and exits
        deadline = time.monotonic() + self.config.inlet.shutdown_timeout + 3
        code = 0
        for p in procs:
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                log.error("%s did not stop in time; killing it", p.name)
                p.kill()
                p.join()
                code = 1
            elif p.exitcode != 0:
                log.error("%s exited with code %s", p.name, p.exitcode)
                code = 1
        self.receiver.stop()
        self.receiver.drain()
        if self.http:
            self.http.stop()
        for lst in self.listeners:
            lst.program.close()
        log.info("inlet stopped")
        return code
