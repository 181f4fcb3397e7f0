"""`flowweir demo-exporter [--config FILE] [--target HOST:PORT] [--seconds N] ...`.

Simulated routers export NetFlow v9, IPFIX or sFlow v5 to the configured targets, each from
its own address, and answer SNMP there with their names. Without --config the defaults
(three routers on 127.0.0.11-13, see `config.py`) are used. Flags override the file. SIGTERM
and SIGINT stop it (exit 0); a configuration or a socket the user must fix: one line, exit 1.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

log = logging.getLogger("collector.demoexporter")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", metavar="FILE", help="YAML file with a demo-exporter section"
    )
    parser.add_argument(
        "--target", metavar="HOST:PORT", help="send every protocol there (the inlet's address)"
    )
    for protocol in ("netflow9", "ipfix", "sflow"):
        parser.add_argument(
            f"--{protocol}-target", metavar="HOST:PORT", help=f"send {protocol} there"
        )
    parser.add_argument("--snmp-port", type=int, metavar="PORT", help="port of the SNMP agents")
    parser.add_argument("--no-snmp", action="store_true", help="no SNMP agents")
    parser.add_argument(
        "--flows-per-second", type=float, metavar="N", help="every router's rate at the daily peak"
    )
    parser.add_argument(
        "--flow-limit", type=int, metavar="N", help="each router stops after N flows (0: never)"
    )
    parser.add_argument("--seconds", type=float, default=0, help="stop after N seconds (0: never)")


def _settings(args: argparse.Namespace) -> dict[str, object]:
    """The flags as a partial `demo-exporter` section."""
    out: dict[str, object] = {}
    targets = {}
    for protocol in ("netflow9", "ipfix", "sflow"):
        value = getattr(args, f"{protocol}_target") or args.target
        if value:
            targets[protocol] = value
    if targets:
        out["targets"] = targets
    snmp: dict[str, object] = {}
    if args.snmp_port is not None:
        snmp["port"] = args.snmp_port
    if args.no_snmp:
        snmp["enabled"] = False
    if snmp:
        out["snmp"] = snmp
    if args.flow_limit is not None:
        out["flow-limit"] = args.flow_limit
    return out


def run(args: argparse.Namespace) -> int:
    from collector.config.root import ConfigError
    from collector.demoexporter.config import load_demo_config
    from collector.demoexporter.metrics import METRICS
    from collector.demoexporter.root import DemoExporter, DemoExporterError
    from collector.httpapi.server import OperationsServer
    from collector.metrics.aggregate import Aggregator, make_registry
    from collector.metrics.stats import Stats

    try:
        config = load_demo_config(args.config, _settings(args))
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 1
    if args.flows_per_second is not None:
        if args.flows_per_second < 0:
            print("demo-exporter: --flows-per-second must be 0 or more", file=sys.stderr)
            return 1
        for router in config.routers:
            router.flows_per_second = args.flows_per_second

    stats = Stats(METRICS)
    exporter = DemoExporter(config, stats)
    try:
        exporter.open()
    except DemoExporterError as exc:
        print(f"demo-exporter: {exc}", file=sys.stderr)
        return 1
    aggregator = Aggregator(METRICS)
    aggregator.attach("demo-exporter", stats)
    try:
        server = OperationsServer(
            "demo-exporter",
            config.http.listen,
            make_registry(aggregator),
            exporter.health,
            default_port=8084,
        )
    except OSError as exc:
        exporter.close()
        print(
            f"demo-exporter: cannot listen on {config.http.listen}: {exc.strerror}; "
            "change demo-exporter.http.listen",
            file=sys.stderr,
        )
        return 1
    stop = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    if args.seconds:
        timer = threading.Timer(args.seconds, stop.set)
        timer.daemon = True
        timer.start()
    server.start()
    try:
        exporter.run(stop)
    finally:
        server.stop()
    log.info("demo exporter stopped")
    return 0
