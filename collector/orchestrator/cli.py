"""`flowweir orchestrator --config FILE [--once]`.

--once: create or update the Kafka topic and the ClickHouse schema, run one
retention pass and exit (0 when done; 1 with one line per problem when a server
stayed unreachable for `orchestrator.startup-timeout`). Without it the
orchestrator stays up: retention timer, migrations again on SIGHUP (the
configuration file is re-read), metrics and health on its operations endpoint.
SIGTERM and SIGINT stop it (exit 0).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from collector.config.root import Config, ConfigError, load_config
from collector.daemon import load_or_report

log = logging.getLogger("collector.orchestrator")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", required=True, metavar="FILE", help="YAML configuration")
    parser.add_argument(
        "--once",
        action="store_true",
        help="apply the topic and schema once, run one retention pass, then exit",
    )
    parser.add_argument(
        "--print-ddl",
        choices=["legacy", "modern"],
        help="print the schema's SQL for that server dialect and exit (connects to nothing)",
    )
    parser.add_argument(
        "--no-kafka",
        action="store_true",
        help="leave the Kafka topic alone (ClickHouse schema and retention only)",
    )


def run(args: argparse.Namespace) -> int:
    from collector.httpapi.server import OperationsServer
    from collector.metrics.aggregate import Aggregator, make_registry
    from collector.metrics.stats import Stats
    from collector.orchestrator.metrics import METRICS
    from collector.orchestrator.root import Orchestrator

    config = load_or_report(args.config)
    if config is None:
        return 1
    if args.print_ddl:
        print_ddl(config, args.print_ddl)
        return 0
    # clickhouse-driver logs a traceback for every refused connection; we log one line instead.
    logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    stats = Stats(METRICS)
    orchestrator = Orchestrator(config, stats, manage_topic=not args.no_kafka)
    stop = threading.Event()
    wake = threading.Event()
    reload_requested = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()
        wake.set()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        reload_requested.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)

    if args.once:
        if orchestrator.run_once(config.orchestrator.startup_timeout, stop):
            return 0
        if stop.is_set():
            print("orchestrator: stopped before the schema and topic were ready", file=sys.stderr)
            return 1
        print(
            f"orchestrator: gave up after {config.orchestrator.startup_timeout}s "
            "(orchestrator.startup-timeout):",
            file=sys.stderr,
        )
        for problem in orchestrator.errors():
            print(f"  {problem}", file=sys.stderr)
        return 1

    signal.signal(signal.SIGHUP, on_hup)

    def reload() -> Config | None:
        if not reload_requested.is_set():
            return None
        reload_requested.clear()
        try:
            return load_config(args.config)
        except ConfigError as exc:
            log.error("configuration not reloaded, keeping the running one:\n%s", exc)
            return None

    aggregator = Aggregator(METRICS)
    aggregator.attach("orchestrator", stats)
    try:
        server = OperationsServer(
            "orchestrator",
            config.orchestrator.http.listen,
            make_registry(aggregator),
            orchestrator.health,
            default_port=8082,
        )
    except OSError as exc:
        print(
            f"orchestrator: cannot listen on {config.orchestrator.http.listen}: {exc.strerror}; "
            "change orchestrator.http.listen",
            file=sys.stderr,
        )
        return 1
    server.start()
    try:
        orchestrator.run_forever(stop, wake, reload)
    finally:
        server.stop()
    log.info("orchestrator stopped")
    return 0


def print_ddl(config: Config, dialect_name: str) -> None:
    from collector.orchestrator.root import schema_settings
    from collector.schema.ddl import build_schema
    from collector.schema.dialect import LEGACY, MODERN

    schema = build_schema(schema_settings(config), MODERN if dialect_name == "modern" else LEGACY)
    db = schema.database
    statements = [f"CREATE DATABASE IF NOT EXISTS {db}"]
    statements += [t.create_sql(db) for t in schema.tables]
    if dialect_name == "modern":
        for spec in schema.dictionaries:
            statements += list(schema.dictionary_sql(spec))
    statements += [v.create_sql(db) for v in schema.views]
    sys.stdout.write("".join(f"{s};\n\n" for s in statements))
