"""`flowweir outlet --config FILE`."""

from __future__ import annotations

import argparse

from collector.daemon import add_config_argument, run_daemon


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    from collector.outlet.service import OutletService

    return run_daemon("outlet", args, OutletService)
