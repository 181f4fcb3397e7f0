"""What every daemon's command line shares: load the configuration, run, report start-up errors."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable
from typing import Any

from collector.config.root import Config, ConfigError, load_config


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", required=True, help="YAML configuration file")


def load_or_report(path: str) -> Config | None:
    """The configuration, or None after printing what is wrong (never a traceback)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return None


def run_daemon(name: str, args: argparse.Namespace, factory: Callable[[Config, bool], Any]) -> int:
    """Build the service from the configuration file and run it until SIGTERM."""
    config = load_or_report(args.config)
    if config is None:
        return 1
    service = factory(config, args.verbose)
    try:
        return int(service.run())
    except OSError as exc:  # a port in use, a permission missing: the user's to fix
        logging.getLogger(f"flowweir.{name}").error("cannot start the %s: %s", name, exc)
        service.stop()
        return 1


def exit_with_parent() -> None:
    """Ask Linux to send SIGTERM to this worker process when its parent dies (PR_SET_PDEATHSIG),
    so a killed daemon never leaves orphan workers behind: they flush and stop."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)


def run_worker(verbose: bool, build: Callable[[], Any], metrics_queue: Any) -> None:
    """Body of a worker process: signals first, then build the worker, publish once, run.

    SIGTERM is handled from the very start so that a stop during start-up does not
    kill a half-built worker; the first metrics snapshot tells the parent it is ready.
    `build()` returns an object with `stopping`, `publish()` and `run() -> int`.
    """
    import signal

    from collector.cli import setup_logging

    state = {"stop": False}
    worker: Any = None

    def stop(_signum: int, _frame: object) -> None:
        state["stop"] = True
        if worker is not None:
            worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    setup_logging(verbose)
    exit_with_parent()
    worker = build()
    worker.stopping = state["stop"]
    worker.publish()
    code = worker.run()
    metrics_queue.close()
    metrics_queue.join_thread()
    raise SystemExit(code)
