"""`flowweir config check FILE` and `flowweir config dump FILE`."""

from __future__ import annotations

import argparse
import sys

from collector.config.root import ConfigError, dump_config, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", choices=["check", "dump"], help="check: validate; dump: print with defaults"
    )
    parser.add_argument("file", help="YAML configuration file")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 1
    if args.action == "check":
        print(f"{args.file}: ok")
    else:
        sys.stdout.write(dump_config(config))
    return 0
