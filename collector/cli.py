"""`flowweir` command line: one subcommand per service or tool.

Each subcommand lives in its component as a module exposing
`configure(parser)` and `run(args) -> int`, imported only when used so that
`flowweir inlet` does not pay for the outlet's imports.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "config": ("collector.config.cli", "check or dump a configuration file"),
    "inlet": ("collector.inlet.cli", "receive flow datagrams and hand them to Kafka"),
    "outlet": ("collector.outlet.cli", "decode, enrich and store flows from Kafka into ClickHouse"),
    "orchestrator": (
        "collector.orchestrator.cli",
        "create the Kafka topic and the ClickHouse schema",
    ),
    "decode": (
        "collector.outlet.decoder.cli",
        "decode NetFlow/IPFIX/sFlow datagrams from pcap files",
    ),
    "enrich": ("enrich.cli", "metadata enrichment workers (Celery) and cache tools"),
    "demo-exporter": (
        "collector.demoexporter.cli",
        "simulated routers exporting NetFlow v9/IPFIX/sFlow, with SNMP agents",
    ),
}


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
    )
    # The ClickHouse driver logs connection failures with tracebacks; we log one clear line instead.
    logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    # kafka-python-ng logs every refused connection at ERROR; the callers log what it means.
    if not verbose:
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


def _load(module_name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(module_name)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="flowweir", description="flowweir network flow collector")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subs.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        if name == wanted:
            _load(module_name).configure(sub)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(_load(args._module).run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
