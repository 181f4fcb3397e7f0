"""`flowweir inlet --config FILE`."""

from __future__ import annotations

import argparse
import logging
import sys

from collector.config.root import ConfigError, load_config

log = logging.getLogger("flowweir.inlet")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", required=True, help="YAML configuration file")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 1
    from collector.inlet.service import InletService

    service = InletService(config, verbose=args.verbose)
    try:
        return service.run()
    except OSError as exc:
        log.error("cannot start the inlet: %s", exc)
        service.stop()
        return 1
