"""`make demo`: the whole pipeline on this machine with local services and a demo exporter.

Starts a Kafka-protocol broker (Tansu), ClickHouse and Redis on free ports; the
orchestrator creates the topic and the schema; an enrichment worker serves the
exporter's names from a static source; the inlet receives NetFlow v9 from a
demo exporter; the outlet writes flows to ClickHouse. Every few seconds it
prints what ClickHouse holds. Ctrl-C stops everything. DEMO_SECONDS=N stops
after N seconds.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.devservices.base import free_port  # noqa: E402
from collector.devservices.clickhouse import ClickHouseServer  # noqa: E402
from collector.devservices.daemon import Daemon, orchestrate_once  # noqa: E402
from collector.devservices.kafka import KafkaBroker  # noqa: E402
from collector.devservices.redis import RedisServer  # noqa: E402
from collector.generator.netflow9 import flood  # noqa: E402

DURATION = float(os.environ.get("DEMO_SECONDS", "0"))  # 0: until Ctrl-C
RATE = 50  # datagrams/s of 30 flows

INTERFACES = {
    1: {"name": "et-0/0/1", "description": "Transit: Cogent 100G", "speed": 100000},
    2: {"name": "et-0/0/2", "description": "Peering: FranceIX", "speed": 100000},
    3: {"name": "xe-1/0/0", "description": "Core: par2", "speed": 10000},
    4: {"name": "xe-1/0/1", "description": "Customer: ACME", "speed": 10000},
}


def say(text: str) -> None:
    print(text, flush=True)


def main() -> int:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    say(
        "flowweir demo: starting Kafka-protocol broker (Tansu), ClickHouse and Redis on free ports..."
    )
    services = [KafkaBroker(), ClickHouseServer(), RedisServer()]
    daemons: list[Daemon] = []
    try:
        for s in services:
            s.start()
        broker, clickhouse, redis = services
        port = free_port(2)
        config = {
            "kafka": {"brokers": [broker.bootstrap], "partitions": 4},
            "clickhouse": {"servers": [clickhouse.address]},
            "redis": {"url": redis.url},
            "orchestrator": {"dictionaries-path": str(clickhouse.dir / "dictionaries")},
            "inlet": {
                "inputs": [{"decoder": "netflow", "listen": f"127.0.0.1:{port}", "workers": 2}]
            },
            "outlet": {
                "maximum-wait-time": 2,
                "session-timeout": 3,
                "interface-classifiers": [
                    {
                        "match": {"description": r"^(?P<kind>Transit|Peering): (?P<provider>\S+)"},
                        "set": {
                            "connectivity": "$kind",
                            "provider": "$provider",
                            "boundary": "external",
                        },
                    },
                    {"match": {"description": "^(Core|Customer)"}, "set": {"boundary": "internal"}},
                ],
            },
            "enrich": {
                "providers": ["static"],
                "static": {
                    "exporters": {
                        "127.0.0.1": {
                            "name": "edge1.par1",
                            "group": "edge",
                            "site": "par1",
                            "interfaces": INTERFACES,
                        }
                    }
                },
            },
        }
        workdir = Path(tempfile.mkdtemp(prefix="flowweir-demo-"))
        say(f"configuration: {workdir}/orchestrator.yaml")
        result = orchestrate_once(config, workdir)
        if result.returncode:
            say(f"orchestrator failed:\n{result.stderr}")
            return 1
        say("orchestrator: Kafka topic flows-v1 and ClickHouse schema created")
        for service in ("enrich", "inlet", "outlet"):
            daemon = Daemon(service, config) if service != "enrich" else _enrich_worker(config)
            daemons.append(daemon.start(timeout=120))
            say(f"{service} running (metrics: {daemon.url('metrics')})")
        threading.Thread(
            target=lambda: flood(("127.0.0.1", port), 10**9, rate=RATE), daemon=True
        ).start()
        say(f"demo exporter: NetFlow v9 to 127.0.0.1:{port}, {RATE} datagrams/s of 30 flows\n")
        return show(clickhouse, stop)
    finally:
        for d in reversed(daemons):
            d.stop()
        for s in services:
            s.stop()
        say("demo stopped")


def _enrich_worker(config: dict) -> Daemon:
    return Daemon("enrich", config, args=("--pool", "solo"), subcommand="worker")


def show(clickhouse: ClickHouseServer, stop: threading.Event) -> int:
    client = clickhouse.client("flowweir")
    start = time.monotonic()
    seen = 0
    while not stop.wait(5) and (not DURATION or time.monotonic() - start < DURATION):
        total, last_min = client.execute(
            "SELECT count(), countIf(TimeReceived > now() - 60) FROM flows"
        )[0]
        seen = total
        say(
            f"[{time.strftime('%H:%M:%S')}] {total} flows in ClickHouse, {last_min / 60:.0f} flows/s over the last minute"
        )
        for exporter, iface, desc, conn, mbytes in client.execute(
            "SELECT ExporterName, InIfName, InIfDescription, InIfConnectivity, sum(Bytes * SamplingRate) / 1e6 AS mb "
            "FROM flows WHERE TimeReceived > now() - 60 GROUP BY ExporterName, InIfName, InIfDescription, "
            "InIfConnectivity ORDER BY mb DESC LIMIT 4"
        ):
            say(
                f"    {exporter or '?':12s} {iface or '?':9s} {desc or '':22s} {conn or '-':8s} {mbytes:12.0f} MB in"
            )
    return 0 if seen else 1


if __name__ == "__main__":
    sys.exit(main())
