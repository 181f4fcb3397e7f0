"""`flowweir console --config FILE` and `flowweir console hash-password`.

The console serves the web UI, the API (/api/v0/console/..., OpenAPI at
/api/v0/console/docs) and the operations endpoints (/api/v0/console/metrics and
/healthcheck) on `console.http.listen` (loopback by default). SIGTERM and SIGINT
stop it (exit 0).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

log = logging.getLogger("collector.console")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="FILE", help="YAML configuration")
    parser.add_argument(
        "action",
        nargs="?",
        choices=["serve", "hash-password"],
        default="serve",
        help="serve (default) or hash-password: read a password on stdin, print its hash "
        "for console.auth.users[].password-hash",
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "hash-password":
        from collector.console.auth import hash_password

        password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline()
        password = password.rstrip("\n")
        if not password:
            print("console: empty password refused", file=sys.stderr)
            return 1
        print(hash_password(password))
        return 0
    if not args.config:
        print("console: --config FILE is required to serve", file=sys.stderr)
        return 1
    from collector.console.metrics import METRICS, LockedStats
    from collector.console.root import Console
    from collector.daemon import load_or_report

    config = load_or_report(args.config)
    if config is None:
        return 1
    if config.console.auth.mode == "users" and not config.console.auth.users:
        log.warning(
            "console.auth.users is empty: nobody can sign in (add users, or use mode: proxy)"
        )
    try:
        console = Console(config, LockedStats(METRICS))
    except OSError as exc:
        print(
            f"console: cannot open console.state-file {config.console.state_file}: "
            f"{exc.strerror or exc}; change console.state-file",
            file=sys.stderr,
        )
        return 1
    import socket

    from collector.config.types import parse_hostport

    host, port = parse_hostport(config.console.http.listen, 8085)
    try:  # uvicorn logs a traceback for a port in use: check first, say it in one line
        with socket.create_server((host or "127.0.0.1", port)):
            pass
    except OSError as exc:
        print(
            f"console: cannot listen on {config.console.http.listen}: {exc.strerror}; "
            "change console.http.listen",
            file=sys.stderr,
        )
        return 1
    console.serve()
    log.info("console stopped")
    return 0
