"""`make demo`: the whole pipeline on this machine with local services and a demo exporter.

Starts a Kafka-protocol broker (Tansu), the inlet, and a NetFlow v9 exporter
simulator, then shows the datagrams arriving in Kafka. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.generator.netflow9 import flood  # noqa: E402
from collector.kafka.envelope import decode_envelope  # noqa: E402
from tests.services.base import free_port  # noqa: E402
from tests.services.flowweir import Daemon  # noqa: E402
from tests.services.kafka import KafkaBroker  # noqa: E402

DURATION = float(os.environ.get("DEMO_SECONDS", "0"))  # 0: until Ctrl-C


def main() -> int:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("flowweir demo: starting a local Kafka-protocol broker (Tansu)...", flush=True)
    broker = KafkaBroker().start()
    daemons: list[Daemon] = []
    try:
        broker.create_topic("flows-v1", partitions=4)
        port = free_port(2)
        inlet = Daemon(
            "inlet",
            {
                "kafka": {"brokers": [broker.bootstrap]},
                "inlet": {
                    "inputs": [{"decoder": "netflow", "listen": f"127.0.0.1:{port}", "workers": 2}]
                },
            },
        )
        daemons.append(inlet.start())
        print(f"inlet listening on 127.0.0.1:{port} (metrics: {inlet.url('metrics')})", flush=True)
        sender = threading.Thread(
            target=lambda: flood(
                ("127.0.0.1", port), 10**9 if not DURATION else int(DURATION * 50), rate=50
            ),
            daemon=True,
        )
        sender.start()
        print(
            "demo exporter sending NetFlow v9 (30 flows per datagram, 50 datagrams/s)\n", flush=True
        )
        return show_kafka(broker.bootstrap, stop)
    finally:
        for d in daemons:
            d.stop()
        broker.stop()
        print("demo stopped")


def show_kafka(bootstrap: str, stop: threading.Event) -> int:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "demo",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe(["flows-v1"])
    start = time.monotonic()
    total = 0
    window: Counter[str] = Counter()
    last = time.monotonic()
    try:
        while not stop.is_set() and (not DURATION or time.monotonic() - start < DURATION):
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error():
                    continue
                env = decode_envelope(msg.value())
                window[env.exporter] += 1
                total += 1
            if time.monotonic() - last >= 2:
                rate = sum(window.values()) / (time.monotonic() - last)
                exporters = ", ".join(f"{k} x{v}" for k, v in window.most_common(3)) or "none yet"
                print(
                    f"[{time.strftime('%H:%M:%S')}] {rate:6.1f} datagrams/s into Kafka topic flows-v1 "
                    f"(total {total}; exporters: {exporters})",
                    flush=True,
                )
                window.clear()
                last = time.monotonic()
    finally:
        consumer.close()
    return 0 if total else 1


if __name__ == "__main__":
    sys.exit(main())
