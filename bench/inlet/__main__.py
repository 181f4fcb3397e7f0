"""bench/inlet: flood receivers on loopback with NetFlow v9 (30 records, 1,464 bytes) and compare.

Receivers, measured in the same run with the same generator process:
  fw <comp>  one inlet worker producing envelope v2 to a local Kafka-protocol
             broker (Tansu), once per compression (lz4, zstd, none by default)
  recv_into  a plain Python recv_into loop (the floor for Python)
  +produce   recv_into plus one confluent-kafka produce per datagram with the
             inlet's producer settings (the floor of the v1 contract: one
             datagram per Kafka message)
  nfcapd     nfdump's collector from Debian, writing flow files

The generator (`python -m collector.generator.netflow9`, one process per step)
sends prepared datagrams with sendmmsg(2), by default as UDP GSO trains of 44
datagrams that the kernel cuts before any receiver sees them (--segments 1: one
datagram per message; --method sendto: the former one-call-per-datagram loop).
Its own ceiling is measured first for the three ways (flat out into a socket
nobody reads); the rate steps go 20k..80k/s, 90k, 100k/s, then every --fine-step up to 300k/s,
five times that above, up to the ceiling of the way in use (at most --max-rate),
then flat out. For each receiver: the loss-free rate
(highest step with no kernel or queue drop at it and below), CPU microseconds per
datagram (all threads of the receiving process), Kafka messages and bytes per
datagram (bytes: what the broker read from its sockets), peak resident memory, and
the generator's own CPU per datagram (shared with the receivers on this machine).
Run: `.venv/bin/python -m bench.inlet [--seconds 2] [--compression lz4,zstd,none]`.
"""

from __future__ import annotations

import argparse
import os
import re
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
from collector.generator.netflow9 import add_sender_options
from collector.kafka.envelope import topic_name

RCVBUF = 32 * 1024 * 1024
COARSE = (20_000, 40_000, 60_000, 80_000, 90_000, 100_000)  # 90k: nfcapd stops near there
RATES: list[int] = [*COARSE, 0]  # 0: as fast as the generator can; main() adds fine steps
GENERATOR = {"method": "sendmmsg", "segments": "44"}  # how send() runs it (main() may change)
_REPORT = re.compile(r"in ([\d.]+) s: [\d.]+ datagrams/s, CPU ([\d.]+) s")


@dataclass
class Step:
    target: int
    sent: int
    achieved: float
    drops: int
    cpu_s: float = 0.0  # CPU of the receiving process during this step (send + settle)
    threads: dict[str, float] = field(default_factory=dict)  # CPU seconds by thread group
    generator_cpu_s: float = 0.0  # the generator's own CPU during the send

    @property
    def received(self) -> int:
        return self.sent - self.drops

    @property
    def us_per_datagram(self) -> float:
        return self.cpu_s / self.received * 1e6 if self.received > 0 else float("nan")


@dataclass
class Result:
    name: str
    steps: list[Step] = field(default_factory=list)
    cpu_s: float = 0.0
    received: int = 0
    rss_mb: dict[str, float] = field(default_factory=dict)
    stalled_rss_mb: float = 0.0  # peak worker RSS after a flood with the Kafka broker stopped
    kafka_messages: float = float("nan")  # Kafka messages produced
    kafka_bytes: float = float("nan")  # bytes the broker read from its sockets

    @property
    def messages_per_datagram(self) -> float:
        return self.kafka_messages / self.received if self.received else float("nan")

    @property
    def bytes_per_datagram(self) -> float:
        return self.kafka_bytes / self.received if self.received else float("nan")

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

    @property
    def generator_us_per_datagram(self) -> float:
        sent = sum(s.sent for s in self.steps)
        return sum(s.generator_cpu_s for s in self.steps) / sent * 1e6 if sent else float("nan")


@dataclass
class Sent:
    """What one generator run reported: its rate from first to last send, and its CPU."""

    count: int
    achieved: float
    cpu_s: float


def send(port: int, count: int, rate: int, generator: dict[str, str] | None = None) -> Sent:
    options = generator or GENERATOR
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "collector.generator.netflow9",
            f"127.0.0.1:{port}",
            "--count",
            str(count),
            "--rate",
            str(rate),
            "--method",
            options["method"],
            "--segments",
            options["segments"],
            "--report",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = _REPORT.search(out)
    if not found:
        raise SystemExit(f"bench/inlet: the generator did not report what it sent: {out!r}")
    seconds, cpu = float(found[1]), float(found[2])
    return Sent(count, count / max(seconds, 1e-6), cpu)


GENERATORS = {
    "sendto (former)": {"method": "sendto", "segments": "1"},
    "sendmmsg": {"method": "sendmmsg", "segments": "1"},
    "sendmmsg + GSO x44": {"method": "sendmmsg", "segments": "44"},
}


def generator_ceilings(seconds: float) -> dict[str, Sent]:
    """The generator's own limit, each way: flat out into a socket nobody reads (the kernel
    drops what does not fit); sized to take about `seconds` at the ceilings seen so far."""
    import socket

    ways = dict(GENERATORS)
    if GENERATOR not in ways.values():
        ways["in use"] = GENERATOR
    sizes = {"sendto (former)": 150_000, "sendmmsg": 250_000, "sendmmsg + GSO x44": 1_000_000}
    out = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        for name, options in ways.items():
            count = int(sizes.get(name, 500_000) * seconds)
            out[name] = send(sink.getsockname()[1], count, 0, options)
    return out


def fine_steps(ceiling: float, step: int, highest: int) -> list[int]:
    """Rates above 100k/s: every `step` up to 300k/s, every 5 `step` above, below the
    generator's ceiling and at most `highest`."""
    out, rate = [], COARSE[-1]
    while True:
        rate += step if rate < 300_000 else 5 * step
        if rate >= min(ceiling, highest + 1):
            return out
        out.append(rate)


def broker_received_bytes(port: int) -> int:
    """Bytes the broker received on its open client connections (`ss`: TCP bytes_received)."""
    out = subprocess.run(
        ["ss", "-tinH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return sum(int(m) for m in re.findall(r"bytes_received:(\d+)", out))


def settle_briefly() -> None:
    """Between rate steps: let the receiver read what the kernel still holds."""
    time.sleep(0.5)


def thread_group(name: str) -> str:
    """librdkafka names its threads rdk:main, rdk:broker<N>, rdk:broker-1 (internal)..."""
    if name.startswith("rdk:broker"):
        return "rdk:broker"
    if name.startswith("rdk:"):
        return name
    return "main"  # the interpreter's thread(s): receive, envelope, produce() calls


def thread_cpu(pids: list[int]) -> dict[str, float]:
    """CPU seconds of the live threads of `pids` by thread group, in ns precision
    (/proc/PID/task/TID/schedstat: time on CPU, user + system)."""
    out: dict[str, float] = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                on_cpu = int((task / "schedstat").read_text().split()[0]) / 1e9
                group = thread_group((task / "comm").read_text().strip())
            except (FileNotFoundError, ProcessLookupError):
                continue  # a thread that just ended
            out[group] = out.get(group, 0.0) + on_cpu
    return out


def run_steps(
    result: Result,
    port: int,
    seconds: float,
    pids: list[int],
    extra_drops=lambda: 0,
    settle: Callable[[], None] = settle_briefly,
) -> None:
    cpu0 = sum(cpu_seconds(p) for p in pids)
    lossy = 0
    for rate in RATES:
        if lossy >= 2 and rate:  # past its limit: only the flat-out step remains
            continue
        kernel0, queue0 = udp_drops(port), extra_drops()
        threads0 = thread_cpu(pids)
        count = int((rate or 100_000) * seconds)
        sent = send(port, count, rate)
        settle()
        threads = {k: v - threads0.get(k, 0.0) for k, v in thread_cpu(pids).items()}
        kernel, queue = udp_drops(port) - kernel0, extra_drops() - queue0
        drops = kernel + queue
        step = Step(
            rate, sent.count, sent.achieved, drops, sum(threads.values()), threads, sent.cpu_s
        )
        result.steps.append(step)
        result.received += sent.count - drops
        lossy = lossy + 1 if drops else 0
        print(
            f"  {result.name:9s} target {rate or 'max':>7} /s  achieved {sent.achieved:9.0f} /s  "
            f"drops {drops:6d} (kernel {kernel}, queue {queue})  "
            f"CPU {step.us_per_datagram:6.2f} us/datagram  "
            f"(generator {sent.cpu_s / sent.count * 1e6:4.2f})",
            flush=True,
        )
    result.cpu_s = sum(cpu_seconds(p) for p in pids) - cpu0


def bench_reference(
    name: str,
    module: str,
    args: list[str],
    seconds: float,
    settle: Callable[[], None] = settle_briefly,
    before_stop: Callable[[Result], None] = lambda _: None,
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
    before_stop(result)
    proc.send_signal(signal.SIGTERM)
    last = proc.stdout.readline().strip()
    proc.wait()
    return result, last


def bench_plain(seconds: float) -> Result:
    return bench_reference("recv_into", "bench.inlet.plain_recv", [], seconds)[0]


def bench_plain_produce(seconds: float) -> Result:
    broker = KafkaBroker().start()
    try:
        broker.create_topic("floor-v1", partitions=4)  # the v1 contract
        port = broker.port

        def kafka_bytes(r: Result) -> None:
            r.kafka_bytes = broker_received_bytes(port)

        result, queue_full = bench_reference(
            "+produce",
            "bench.inlet.plain_produce",
            [broker.bootstrap, "floor-v1"],
            seconds,
            settle=lambda: time.sleep(1.2),
            before_stop=kafka_bytes,
        )
        result.kafka_messages = result.received - int(queue_full or 0)
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


def bench_inlet(
    seconds: float,
    client: str,
    compression: str = "lz4",
    kafka_options: dict[str, str] | None = None,
    inlet_options: dict[str, str] | None = None,
) -> tuple[Result, float]:
    broker = KafkaBroker().start()
    broker.create_topic(topic_name("bench"), partitions=4)
    port = free_port(2)
    config = {
        "kafka": {
            "brokers": [broker.bootstrap],
            "topic": "bench",
            "client": client,
            "compression": compression,
            "options": kafka_options or {},
        },
        "inlet": {
            "inputs": [
                {
                    "decoder": "netflow",
                    "listen": f"127.0.0.1:{port}",
                    "workers": 1,
                    "receive-buffer": RCVBUF,
                }
            ],
            **(inlet_options or {}),
        },
    }
    inlet = Daemon("inlet", config).start()
    workers = worker_pids(inlet.proc.pid)
    name = f"fw {compression}" if client == "confluent-kafka" else f"kpng {compression}"
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
    result.kafka_bytes = broker_received_bytes(broker.port)
    result.rss_mb = {"inlet parent": peak_rss_mb(inlet.proc.pid)}
    for i, w in enumerate(workers):
        result.rss_mb[f"inlet worker {i}"] = peak_rss_mb(w)
    errors = inlet.metric_sum("flowweir_inlet_kafka_delivery_errors_total")
    result.kafka_messages = inlet.metric_sum("flowweir_inlet_kafka_enqueued_messages_total")
    print(f"  {name}: {result.kafka_messages:.0f} Kafka messages, {errors:.0f} delivery errors")
    # Worst case for memory: Kafka stops answering under a flood, the producer queue fills.
    os.killpg(broker.proc.pid, signal.SIGSTOP)
    try:
        send(port, int(100_000 * seconds), 150_000)  # the former flat-out rate: fills the queue
        time.sleep(1)
        result.stalled_rss_mb = max(peak_rss_mb(w) for w in workers)
    finally:
        os.killpg(broker.proc.pid, signal.SIGCONT)
    inlet.stop()
    broker.stop()
    return result, broker_cpu


def print_steps(results: list[Result], plain: Result) -> None:
    """CPU per datagram at each offered rate, the receivers side by side, and by thread."""
    reference = {s.target: s for s in plain.steps}
    print(
        "\nCPU us per datagram per rate step (all threads; in brackets: / recv_into at that step)"
    )
    print(f"{'offered /s':>10s} " + " ".join(f"{r.name:>18s}" for r in results))
    for rate in RATES:
        cells = []
        for r in results:
            step = next((s for s in r.steps if s.target == rate), None)
            ref = reference.get(rate)
            if step is None:
                cells.append(f"{'-':>18s}")
                continue
            ratio = step.us_per_datagram / ref.us_per_datagram if ref else float("nan")
            cells.append(f"{step.us_per_datagram:9.2f} ({ratio:5.2f}x)")
        print(f"{rate or 'max':>10} " + " ".join(cells))
    for r in results:
        groups = sorted({g for s in r.steps for g in s.threads})
        if groups == ["main"]:
            continue
        print(f"\n{r.name}: CPU us per datagram by thread, per step (achieved rate, datagrams)")
        print(f"{'offered /s':>10s} {'achieved':>9s} " + " ".join(f"{g:>12s}" for g in groups))
        for s in r.steps:
            cells = [f"{s.threads.get(g, 0.0) / max(s.received, 1) * 1e6:12.2f}" for g in groups]
            print(f"{s.target or 'max':>10} {s.achieved:9.0f} " + " ".join(cells))


def parse_options(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"option {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each rate step")
    parser.add_argument(
        "--fine-step", type=int, default=10_000, help="rate step above 100k datagrams/s"
    )
    parser.add_argument(
        "--max-rate", type=int, default=600_000, help="highest paced step (then flat out)"
    )
    add_sender_options(parser, segments=44)  # how the generator sends
    parser.add_argument(
        "--compression",
        default="lz4,zstd,none",
        help="kafka.compression values to run the inlet with (the first is the reference)",
    )
    parser.add_argument(
        "--kafka-python", action="store_true", help="also measure the kafka-python-ng client"
    )
    parser.add_argument(
        "--kafka-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a kafka.options entry for the inlet (librdkafka setting), to try settings",
    )
    parser.add_argument(
        "--inlet-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an inlet setting (e.g. batch-wait=2ms), to try settings",
    )
    parser.add_argument(
        "--inlet-only",
        action="store_true",
        help="only the inlet runs and recv_into (skip +produce and nfcapd), to try settings",
    )
    args = parser.parse_args()
    kafka_options = parse_options(args.kafka_option)
    inlet_options = parse_options(args.inlet_option)
    started = time.monotonic()
    load = Path("/proc/loadavg").read_text().split()[0]
    print(
        f"bench/inlet: NetFlow v9, 30 records, 1,464-byte datagrams; steps of {args.seconds}s; "
        f"load {load} (uptime: {Path('/proc/loadavg').read_text().strip()})"
    )
    GENERATOR.update(method=args.method, segments=str(args.segments))
    print("generator ceilings (flat out, one process, into a socket nobody reads):")
    ceilings = generator_ceilings(args.seconds)
    for name, sent in ceilings.items():
        print(
            f"  {name:20s} {sent.achieved:10.0f} datagrams/s, "
            f"CPU {sent.cpu_s / sent.count * 1e6:5.2f} us/datagram"
        )
    in_use = next(n for n, o in {**GENERATORS, "in use": GENERATOR}.items() if o == GENERATOR)
    ceiling = ceilings[in_use].achieved
    RATES[len(COARSE) : len(COARSE)] = fine_steps(ceiling, args.fine_step, args.max_rate)
    print(
        f"generator in use: --method {args.method} --segments {args.segments}, ceiling "
        f"{ceiling:.0f} datagrams/s; steps {RATES}"
    )
    results: list[Result] = []
    compressions = args.compression.split(",")
    inlets: dict[str, Result] = {}
    broker_cpu = 0.0
    for compression in compressions:
        inlet, cpu = bench_inlet(
            args.seconds, "confluent-kafka", compression, kafka_options, inlet_options
        )
        inlets[compression] = inlet
        broker_cpu = broker_cpu or cpu
        results.append(inlet)
    if args.kafka_python:
        results.append(bench_inlet(args.seconds, "kafka-python-ng", compressions[0])[0])
    plain = bench_plain(args.seconds)
    results.append(plain)
    floor = None if args.inlet_only else bench_plain_produce(args.seconds)
    if floor:
        results.append(floor)
    nfcapd = None if args.inlet_only else bench_nfcapd(args.seconds)
    if nfcapd:
        results.append(nfcapd)
    print("\nAll steps (CPU summed over every step / datagrams of every step; targets judged here)")
    print(
        f"{'receiver':10s} {'loss-free /s':>13s} {'CPU us/dgram':>13s} {'vs recv_into':>13s} "
        f"{'Kafka msg/dgram':>16s} {'Kafka B/dgram':>14s} {'peak RSS MB':>12s} "
        f"{'generator us/d':>14s}"
    )
    for r in results:
        rss = max(r.rss_mb.values()) if r.rss_mb else 0
        print(
            f"{r.name:10s} {r.loss_free:13.0f} {r.us_per_datagram:13.2f} "
            f"{r.us_per_datagram / plain.us_per_datagram:12.2f}x "
            f"{r.messages_per_datagram:16.3f} {r.bytes_per_datagram:14.0f} {rss:12.1f} "
            f"{r.generator_us_per_datagram:14.2f}"
        )
    print_steps(results, plain)
    print(f"\nuptime: {Path('/proc/loadavg').read_text().strip()}")
    inlet = inlets[compressions[0]]
    print(
        "\ninlet peak RSS per process: "
        + ", ".join(f"{k} {v:.1f} MB" for k, v in inlet.rss_mb.items())
    )
    print(
        f"inlet worker peak RSS after a flood with the Kafka broker stopped (producer queue "
        f"full): {inlet.stalled_rss_mb:.1f} MB (target <= 80 MB)"
    )
    print(
        f"Kafka broker (Tansu) CPU during the {inlet.name} run: {broker_cpu:.1f} s "
        f"({broker_cpu / inlet.received * 1e6:.1f} us/datagram, not counted above)"
    )
    print(
        "generator CPU (one process, on the same 2 cores as the receivers), all steps: "
        + ", ".join(f"{r.name} {r.generator_us_per_datagram:.2f}" for r in results)
        + " us/datagram"
    )
    print(
        "loss-free rates (highest step with no loss at it and below): "
        + ", ".join(f"{r.name} {r.loss_free:.0f}/s" for r in results)
    )
    if nfcapd and nfcapd.loss_free:
        for r in inlets.values():
            ratio = r.loss_free / nfcapd.loss_free
            print(f"loss-free rate {r.name} / nfcapd: {ratio:.2f}x (target >= 2)")
    elif nfcapd:
        print("loss-free rate: nfcapd lost datagrams at every step (no ratio)")
    targets = {"lz4": 1.8, "none": 1.3}
    # The CPU targets are judged on one datagram at a time, as routers send them (GSO trains
    # queue 44 datagrams at once, which spares recv_into its wake-ups): bench/README.md.
    judged = args.method == "sendto" or args.segments == 1
    for compression, r in inlets.items():
        ratio = r.us_per_datagram / plain.us_per_datagram
        target = ""
        if compression in targets:
            target = f" (target <= {targets[compression]}" + (
                ")" if judged else "; judged with --method sendto --segments 1)"
            )
        print(f"CPU per datagram {r.name} / recv_into: {ratio:.2f}x{target}")
    if floor:
        print(
            f"CPU per datagram +produce (v1 contract) / recv_into: "
            f"{floor.us_per_datagram / plain.us_per_datagram:.2f}x"
        )
    for r in inlets.values():
        if all(s.drops == 0 for s in r.steps):
            print(f"note: {r.name} lost nothing at any step: its limit is above the generator's")
    print(f"bench/inlet took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
