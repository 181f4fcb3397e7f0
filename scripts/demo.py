"""`make demo`: the whole pipeline on this machine with local services and a demo exporter.

Starts a Kafka-protocol broker (Tansu), ClickHouse and Redis on free ports; the
orchestrator creates the topic and the schema; `flowweir demo-exporter` simulates
three routers (127.0.0.11-13) exporting NetFlow v9, IPFIX and sFlow to the inlet,
each with an SNMP agent; an enrichment worker polls those agents, so the
exporter and interface names in ClickHouse come from SNMP; the outlet writes the
flows to ClickHouse. Every few seconds it prints what ClickHouse holds. Ctrl-C
stops everything. DEMO_SECONDS=N stops after N seconds. The console starts on a
free port with the past 24 hours backfilled, and its URL is printed.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.console.demo import DEMO_CLASSIFIERS, start_demo_console  # noqa: E402
from collector.devservices.base import free_port  # noqa: E402
from collector.devservices.clickhouse import ClickHouseServer  # noqa: E402
from collector.devservices.daemon import Daemon, orchestrate_once  # noqa: E402
from collector.devservices.kafka import KafkaBroker  # noqa: E402
from collector.devservices.redis import RedisServer  # noqa: E402

DURATION = float(os.environ.get("DEMO_SECONDS", "0"))  # 0: until Ctrl-C


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
        port, sflow_port, snmp_port = (free_port(socket.SOCK_DGRAM) for _ in range(3))
        config = {
            "kafka": {"brokers": [broker.bootstrap], "partitions": 4},
            "clickhouse": {"servers": [clickhouse.address]},
            "redis": {"url": redis.url},
            "orchestrator": {"dictionaries-path": str(clickhouse.dir / "dictionaries")},
            "inlet": {
                "inputs": [
                    {"decoder": "netflow", "listen": f"127.0.0.1:{port}", "workers": 1},
                    {"decoder": "sflow", "listen": f"127.0.0.1:{sflow_port}", "workers": 1},
                ]
            },
            "outlet": {
                "maximum-wait-time": 2,
                "session-timeout": 3,
                **DEMO_CLASSIFIERS,  # what the backfill's day is classified with, too
            },
            "enrich": {
                # names from the demo exporter's SNMP agents, one per router address
                "providers": ["snmp"],
                "snmp": {
                    "communities": {"127.0.0.0/8": ["public"]},
                    "ports": {"127.0.0.0/8": snmp_port},
                },
            },
        }
        workdir = Path(tempfile.mkdtemp(prefix="flowweir-demo-"))
        say(f"configuration: {workdir}/orchestrator.yaml")
        result = orchestrate_once(config, workdir)
        if result.returncode:
            say(f"orchestrator failed:\n{result.stderr}")
            return 1
        say("orchestrator: Kafka topic flows-v2 and ClickHouse schema created")
        for service in ("enrich", "inlet", "outlet"):
            daemon = Daemon(service, config) if service != "enrich" else _enrich_worker(config)
            daemons.append(daemon.start(timeout=120))
            say(f"{service} running (metrics: {daemon.url('metrics')})")
        exporter = Daemon(
            "demo-exporter",
            {
                "demo-exporter": {
                    "targets": {
                        "netflow9": f"127.0.0.1:{port}",
                        "ipfix": f"127.0.0.1:{port}",
                        "sflow": f"127.0.0.1:{sflow_port}",
                    },
                    "snmp": {"port": snmp_port},
                }
            },
        )
        daemons.append(exporter.start(timeout=60))
        say(
            f"demo exporter (flowweir demo-exporter): edge1.par1 NetFlow v9, edge2.par1 IPFIX, "
            f"edge1.fra1 sFlow from 127.0.0.11-13, SNMP agents on port {snmp_port} "
            f"(metrics: {exporter.url('metrics')})\n"
        )
        say("console: backfilling the past 24 hours so that its first page is not empty...")
        console, url = start_demo_console(config, workdir)
        daemons.append(console)
        say(f"console: {url}  (sign in as demo / demo; metrics: {console.url('metrics')})\n")
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
        # names, descriptions and speeds below come from the routers' SNMP agents
        for exporter, iface, desc, speed, conn, gbps in client.execute(
            "SELECT ExporterName, InIfName, InIfDescription, InIfSpeed, InIfConnectivity, "
            "sum(Bytes * SamplingRate) * 8 / 60 / 1e9 AS gbps FROM flows "
            "WHERE TimeReceived > now() - 60 GROUP BY ExporterName, InIfName, InIfDescription, "
            "InIfSpeed, InIfConnectivity ORDER BY ExporterName, gbps DESC LIMIT 2 BY ExporterName"
        ):
            say(
                f"    {exporter or '?':11s} {iface or '?':9s} {desc or '':20s} {speed // 1000:4d}G "
                f"{conn or '-':8s} {gbps:6.2f} Gbit/s in"
            )
    return 0 if seen else 1


if __name__ == "__main__":
    sys.exit(main())
