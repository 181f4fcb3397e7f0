"""`flowweir config check FILE` and `flowweir config dump FILE`."""

from __future__ import annotations

import argparse
import sys

from collector.config.root import dump_config
from collector.daemon import load_or_report


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", choices=["check", "dump"], help="check: validate; dump: print with defaults"
    )
    parser.add_argument("file", help="YAML configuration file")


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.file)
    if config is None:
        return 1
    if args.action == "check":
        print(f"{args.file}: ok")
    else:
        sys.stdout.write(dump_config(config))
    return 0
