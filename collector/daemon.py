"""What every daemon's command line shares: load the configuration, run, report start-up errors."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable
from typing import Any

from collector.config.root import Config, ConfigError, load_config

# A worker that cannot be built exits with this code (sysexits' EX_CONFIG): its supervisor
# does not start it again (it would fail the same way every few seconds) but stops the daemon.
EXIT_CANNOT_START = 78


class StartError(Exception):
    """A worker cannot start for a reason the user must fix; the message names it and the fix."""


def describe(exc: BaseException) -> str:
    """One line for an exception: its message, with the type when the message alone is vague."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    if isinstance(exc, StartError) and text:
        return text
    return f"{name}: {text}" if text and text != name else name


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
    except (OSError, StartError) as exc:  # a port in use, a permission missing: the user's to fix
        logging.getLogger(f"flowweir.{name}").error("cannot start the %s: %s", name, describe(exc))
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
    try:
        worker = build()
    except Exception as exc:  # noqa: BLE001 - whatever it is, restarting will not cure it
        import multiprocessing

        log = logging.getLogger("flowweir.worker")
        log.error("%s cannot start: %s", multiprocessing.current_process().name, describe(exc))
        log.debug("start-up failure", exc_info=True)  # the traceback, with --verbose only
        metrics_queue.close()
        metrics_queue.join_thread()
        raise SystemExit(EXIT_CANNOT_START) from None
    worker.stopping = state["stop"]
    worker.publish()
    code = worker.run()
    metrics_queue.close()
    metrics_queue.join_thread()
    raise SystemExit(code)
