"""The inlet daemon: opens the listeners, loads eBPF, supervises one process per worker."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from collector.config.root import Config
from collector.daemon import StartError
from collector.inlet import ebpf
from collector.inlet.config import InputConfig
from collector.inlet.metrics import INLET_METRICS
from collector.inlet.udp import ListenerSocket, open_listener_group, open_listener_socket, rmem_max
from collector.inlet.worker import WorkerSpec, worker_main
from collector.supervisor import Supervisor

log = logging.getLogger("flowweir.inlet")


@dataclass
class Listener:
    input: InputConfig
    label: str
    sockets: list[ListenerSocket]
    program: ebpf.LoadResult
    processes: list[Any] = field(default_factory=list)


class InletService(Supervisor):
    def __init__(self, config: Config, verbose: bool = False) -> None:
        super().__init__("inlet", INLET_METRICS, verbose)
        self.config = config
        self.listeners: list[Listener] = []

    # --- start -------------------------------------------------------------
    def start(self) -> None:
        cfg = self.config.inlet
        # Bind the operations endpoint first: a port conflict is a config error worth failing on.
        self.http = self.serve(
            "inlet", cfg.http.listen, self.health, 8080, reuse_port=cfg.http.reuse_port
        )  # reuse_port only for a handover to a second inlet
        for inp in cfg.inputs:
            self.listeners.append(self._open(inp))
        self.receiver.start()
        for listener in self.listeners:
            for index in range(len(listener.sockets)):
                listener.processes.append(self._spawn(listener, index))
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
        try:
            sockets = open_listener_group(host, port, inp.workers, inp.receive_buffer)
        except OSError as exc:
            raise StartError(
                f"cannot listen on {inp.listen} for {inp.decoder} ({exc.strerror or exc}): "
                "fix inlet.inputs[].listen, or run with the needed privileges"
            ) from None
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
        return self.spawn(worker_main, (spec, ls.sock, self.metrics_queue), f"inlet-{spec.name}")

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
        starting = self.starting()
        alive = all(d["alive"] == d["workers"] for d in details.values())
        ok = not self.stop_event.is_set() and alive and not starting
        return ok, {"listeners": details, **({"starting": starting} if starting else {})}

    def workers(self) -> dict[str, Any]:
        return {
            f"{lst.label}#{i}": p for lst in self.listeners for i, p in enumerate(lst.processes)
        }

    def restart(self, name: str) -> None:
        label, _, number = name.rpartition("#")
        lst = next(lst for lst in self.listeners if lst.label == label)
        index = int(number)
        host, port = lst.input.address
        new = open_listener_socket(host, port, lst.input.receive_buffer)
        if lst.program.map_fd is not None:
            ebpf.update_socket(lst.program.map_fd, index, new.sock)
        lst.processes[index] = self._spawn(lst, index, new)
        new.sock.close()
        self.stats.inc("flowweir_inlet_workers_restarts", (lst.label,))

    def stop(self) -> int:
        log.info("stopping: draining sockets and flushing Kafka")
        # Workers drain their sockets and flush Kafka within shutdown-timeout.
        code = self.stop_workers(self.config.inlet.shutdown_timeout + 3)
        for lst in self.listeners:
            lst.program.close()
        log.info("inlet stopped")
        return code
