"""bench/inlet: flood receivers on loopback with NetFlow v9 (30 records, 1,464 bytes) and compare.

Receivers, measured in the same run with the same generator process:
  flowweir   one inlet worker producing to a local Kafka-protocol broker (Tansu)
  recv_into  a plain Python recv_into loop (the floor for Python)
  +produce   recv_into plus one confluent-kafka produce per datagram with the
             inlet's producer settings (the floor for our Kafka contract)
  nfcapd     nfdump's collector from Debian, writing flow files

For each: the loss-free rate (highest stepped send rate with no kernel or queue
drop), CPU microseconds per datagram (all threads of the receiving process),
and peak resident memory. Run: `.venv/bin/python -m bench.inlet [--seconds 2]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from collector.devservices.base import free_port, wait_for
from collector.devservices.daemon import Daemon
from collector.devservices.kafka import KafkaBroker
from collector.devservices.procstat import cpu_seconds, peak_rss_mb, udp_drops, worker_pids

RCVBUF = 32 * 1024 * 1024
RATES = (20_000, 40_000, 60_000, 80_000, 100_000, 0)  # 0: as fast as the generator can


@dataclass
class Step:
    target: int
    sent: int
    achieved: float
    drops: int


@dataclass
class Result:
    name: str
    steps: list[Step] = field(default_factory=list)
    cpu_s: float = 0.0
    received: int = 0
    rss_mb: dict[str, float] = field(default_factory=dict)
    stalled_rss_mb: float = 0.0  # peak worker RSS after a flood with the Kafka broker stopped

    @property
    def loss_free(self) -> float:
        best = 0.0
        for s in self.steps:
            if s.drops:
                break
            best = max(best, s.achieved)
        return best

    @property
    def us_per_datagram(self) -> float:
        return self.cpu_s / self.received * 1e6 if self.received else float("nan")


def send(port: int, count: int, rate: int) -> tuple[int, float]:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "collector.generator.netflow9",
            f"127.0.0.1:{port}",
            "--count",
            str(count),
            "--rate",
            str(rate),
        ],
        check=True,
    )
    elapsed = time.perf_counter() - start - 0.12  # interpreter start-up, measured separately
    return count, count / max(elapsed, 1e-3)


def settle_briefly() -> None:
    """Between rate steps: let the receiver read what the kernel still holds."""
    time.sleep(0.5)


def run_steps(
    result: Result,
    port: int,
    seconds: float,
    pids: list[int],
    extra_drops=lambda: 0,
    settle: Callable[[], None] = settle_briefly,
) -> None:
    cpu0 = sum(cpu_seconds(p) for p in pids)
    for rate in RATES:
        drops0 = udp_drops(port) + extra_drops()
        count = int((rate or 100_000) * seconds)
        sent, achieved = send(port, count, rate)
        settle()
        drops = udp_drops(port) + extra_drops() - drops0
        result.steps.append(Step(rate, sent, achieved, drops))
        result.received += sent - drops
        print(
            f"  {result.name:9s} target {rate or 'max':>7} /s  achieved {achieved:9.0f} /s  drops {drops}",
            flush=True,
        )
    result.cpu_s = sum(cpu_seconds(p) for p in pids) - cpu0


def bench_reference(
    name: str,
    module: str,
    args: list[str],
    seconds: float,
    settle: Callable[[], None] = settle_briefly,
) -> tuple[Result, str]:
    """Flood a reference receiver (a `bench.inlet` module printing "ready", then its last
    word on SIGTERM) on a free port; returns its result and that last line."""
    port = free_port(2)
    proc = subprocess.Popen(
        [sys.executable, "-m", module, str(port), str(RCVBUF), *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout and proc.stdout.readline().strip() == "ready"
    result = Result(name)
    run_steps(result, port, seconds, [proc.pid], settle=settle)
    result.rss_mb[name] = peak_rss_mb(proc.pid)
    proc.send_signal(signal.SIGTERM)
    last = proc.stdout.readline().strip()
    proc.wait()
    return result, last


def bench_plain(seconds: float) -> Result:
    return bench_reference("recv_into", "bench.inlet.plain_recv", [], seconds)[0]


def bench_plain_produce(seconds: float) -> Result:
    broker = KafkaBroker().start()
    try:
        broker.create_topic("floor-v1", partitions=4)
        result, queue_full = bench_reference(
            "+produce",
            "bench.inlet.plain_produce",
            [broker.bootstrap, "floor-v1"],
            seconds,
            settle=lambda: time.sleep(1.2),
        )
    finally:
        broker.stop()
    if int(queue_full or 0):
        print(f"  +produce: {queue_full} datagrams found the producer queue full")
    return result


def bench_nfcapd(seconds: float) -> Result | None:
    binary = shutil.which("nfcapd")
    if not binary:
        print("  nfcapd not installed (Debian package nfdump): skipped")
        return None
    port = free_port(2)
    workdir = Path(tempfile.mkdtemp(prefix="bench-nfcapd-"))
    proc = subprocess.Popen(
        [
            binary,
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            str(workdir),
            "-B",
            str(RCVBUF),
            "-t",
            "3600",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: _bound(port), 10, "nfcapd")
    result = Result("nfcapd")
    run_steps(result, port, seconds, [proc.pid])
    result.rss_mb["nfcapd"] = peak_rss_mb(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def _bound(port: int) -> bool:
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            if int(line.split()[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def bench_inlet(seconds: float, client: str) -> tuple[Result, float]:
    broker = KafkaBroker().start()
    broker.create_topic("bench-v1", partitions=4)
    port = free_port(2)
    config = {
        "kafka": {"brokers": [broker.bootstrap], "topic": "bench", "client": client},
        "inlet": {
            "inputs": [
                {
                    "decoder": "netflow",
                    "listen": f"127.0.0.1:{port}",
                    "workers": 1,
                    "receive-buffer": RCVBUF,
                }
            ]
        },
    }
    inlet = Daemon("inlet", config).start()
    workers = worker_pids(inlet.proc.pid)
    name = "flowweir" if client == "confluent-kafka" else "fw-kpng"
    result = Result(name)

    def queue_drops() -> int:
        return int(inlet.metric_sum("flowweir_inlet_udp_drops_total", reason="queue_full"))

    def settle() -> None:  # let the producer queue empty before the next step
        time.sleep(0.6)
        deadline = time.monotonic() + 30
        while (
            inlet.metric_sum("flowweir_inlet_kafka_queue_messages") > 0
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        time.sleep(0.6)

    broker_cpu0 = cpu_seconds(broker.proc.pid)
    run_steps(result, port, seconds, workers, queue_drops, settle)
    broker_cpu = cpu_seconds(broker.proc.pid) - broker_cpu0
    result.rss_mb = {"inlet parent": peak_rss_mb(inlet.proc.pid)}
    for i, w in enumerate(workers):
        result.rss_mb[f"inlet worker {i}"] = peak_rss_mb(w)
    errors = inlet.metric_sum("flowweir_inlet_kafka_delivery_errors_total")
    enqueued = inlet.metric_sum("flowweir_inlet_kafka_enqueued_messages_total")
    print(f"  {name}: {enqueued:.0f} envelopes produced, {errors:.0f} delivery errors")
    # Worst case for memory: Kafka stops answering under a flood, the producer queue fills.
    os.killpg(broker.proc.pid, signal.SIGSTOP)
    try:
        send(port, int(100_000 * seconds), 0)
        time.sleep(1)
        result.stalled_rss_mb = max(peak_rss_mb(w) for w in workers)
    finally:
        os.killpg(broker.proc.pid, signal.SIGCONT)
    inlet.stop()
    broker.stop()
    return result, broker_cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each rate step")
    parser.add_argument(
        "--kafka-python", action="store_true", help="also measure the kafka-python-ng client"
    )
    args = parser.parse_args()
    load = Path("/proc/loadavg").read_text().split()[0]
    print(
        f"bench/inlet: NetFlow v9, 30 records, 1,464-byte datagrams; steps of {args.seconds}s; load {load}"
    )
    results: list[Result] = []
    inlet, broker_cpu = bench_inlet(args.seconds, "confluent-kafka")
    results.append(inlet)
    if args.kafka_python:
        results.append(bench_inlet(args.seconds, "kafka-python-ng")[0])
    plain = bench_plain(args.seconds)
    results.append(plain)
    floor = bench_plain_produce(args.seconds)
    results.append(floor)
    nfcapd = bench_nfcapd(args.seconds)
    if nfcapd:
        results.append(nfcapd)
    print()
    print(
        f"{'receiver':10s} {'loss-free /s':>13s} {'CPU us/dgram':>13s} {'vs recv_into':>13s} {'peak RSS MB':>12s}"
    )
    for r in results:
        rss = max(r.rss_mb.values()) if r.rss_mb else 0
        print(
            f"{r.name:10s} {r.loss_free:13.0f} {r.us_per_datagram:13.2f} "
            f"{r.us_per_datagram / plain.us_per_datagram:12.2f}x {rss:12.1f}"
        )
    print(
        "\ninlet peak RSS per process: "
        + ", ".join(f"{k} {v:.1f} MB" for k, v in inlet.rss_mb.items())
    )
    print(
        f"inlet worker peak RSS after a flood with the Kafka broker stopped (producer queue "
        f"full): {inlet.stalled_rss_mb:.1f} MB (limit 80 MB)"
    )
    print(
        f"Kafka broker (Tansu) CPU during the inlet run: {broker_cpu:.1f} s "
        f"({broker_cpu / inlet.received * 1e6:.1f} us/datagram, not counted above)"
    )
    if nfcapd:
        ratio = inlet.loss_free / nfcapd.loss_free if nfcapd.loss_free else float("inf")
        print(f"loss-free rate flowweir / nfcapd: {ratio:.2f}x (target >= 1, aim 2)")
    print(
        f"CPU per datagram flowweir / recv_into: {inlet.us_per_datagram / plain.us_per_datagram:.2f}x (target <= 2.5)"
    )
    print(
        f"CPU per datagram +produce / recv_into: {floor.us_per_datagram / plain.us_per_datagram:.2f}x; "
        f"flowweir above that floor: {inlet.us_per_datagram - floor.us_per_datagram:.2f} us/datagram"
    )


if __name__ == "__main__":
    main()
