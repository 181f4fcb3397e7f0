"""`flowweir enrich worker|beat|show`: the Celery worker and beat with the configuration loaded,
and a look at what the cache holds for one exporter.

`worker` also serves the operations endpoint (`enrich.http.listen`): metrics of this host's
worker processes (published in Redis) and the per-exporter refresh age.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import tempfile
import time

import redis

from collector.config.root import Config
from collector.config.types import normalize_address
from collector.daemon import load_or_report
from collector.metrics.aggregate import Aggregator, make_registry
from collector.metrics.stats import Stats
from enrich.cache import MetadataCache, key
from enrich.metrics import WORKER_METRICS

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    worker = subs.add_parser("worker", help="run Celery workers refreshing the metadata cache")
    worker.add_argument("--config", required=True, metavar="FILE", help="YAML configuration")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="worker processes (default: enrich.concurrency)",
    )
    worker.add_argument("--pool", default="prefork", choices=["prefork", "solo"])
    beat = subs.add_parser("beat", help="run Celery beat (the periodic cache check)")
    beat.add_argument("--config", required=True, metavar="FILE", help="YAML configuration")
    beat.add_argument(
        "--schedule-file",
        default=os.path.join(tempfile.gettempdir(), f"flowweir-enrich-beat-{os.getuid()}"),
        help="where beat keeps its schedule state",
    )
    show = subs.add_parser("show", help="print what the cache holds for an exporter")
    show.add_argument("exporter", metavar="EXPORTER", help="exporter IP address")
    show.add_argument("--config", required=True, metavar="FILE", help="YAML configuration")
    show.add_argument("--json", action="store_true", help="print JSON")


def _load(path: str) -> Config | None:
    return load_or_report(path)


def _redis(config: Config) -> redis.Redis | None:
    client = redis.Redis.from_url(
        config.redis.url.get_secret_value(), socket_connect_timeout=2, socket_timeout=5
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        print(
            f"cannot reach Redis at {config.redis.url}: {exc}; start it or fix `redis.url`",
            file=sys.stderr,
        )
        return None
    return client


def _operations(config: Config, client: redis.Redis) -> object | None:
    from collector.httpapi.server import OperationsServer

    aggregator = Aggregator(WORKER_METRICS)
    ages = Stats(WORKER_METRICS)
    aggregator.attach("refresh-age", ages)
    host = socket.gethostname()
    cache = MetadataCache(client)

    def refresh() -> None:
        try:
            for source, raw in client.hgetall(key("metrics")).items():
                name = source.decode()
                if name.startswith(f"{host}:"):
                    snap = {(n, tuple(labels)): v for n, labels, v in json.loads(raw)}
                    aggregator.update(name, snap)
            ages.values.clear()
            for exporter, age in cache.refresh_ages().items():
                ages.set("flowweir_enrich_cache_refresh_age_seconds", (exporter,), age)
        except redis.RedisError as exc:
            log.warning("metrics: Redis unreachable: %s", exc)

    aggregator.before_collect(refresh)

    def health() -> tuple[bool, dict[str, object]]:
        client.ping()
        return True, {}

    try:
        server = OperationsServer(
            "enrich", config.enrich.http.listen, make_registry(aggregator), health, 8083
        )
    except OSError as exc:
        print(
            f"cannot listen on {config.enrich.http.listen} (enrich.http.listen): {exc.strerror}",
            file=sys.stderr,
        )
        return None
    server.start()
    return server


def run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 1
    client = _redis(config)
    if client is None:
        return 1
    if args.action == "show":
        return _show(client, args.exporter, args.json)
    from enrich.app import make_app

    app = make_app(config)
    level = "DEBUG" if logging.getLogger().level <= logging.DEBUG else "INFO"
    if args.action == "worker":
        server = _operations(config, client)
        if server is None:
            return 1
        concurrency = args.concurrency or config.enrich.concurrency
        app.worker_main(
            [
                "worker",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                f"--concurrency={concurrency}",
                f"--pool={args.pool}",
                f"--queues={config.enrich.queue}",
                f"--loglevel={level}",
                f"--hostname=flowweir-enrich-{os.getpid()}@%h",
            ]
        )
        return 0
    app.start(["beat", f"--schedule={args.schedule_file}", f"--loglevel={level}"])
    return 0


def _show(client: redis.Redis, exporter: str, as_json: bool) -> int:
    try:
        address = normalize_address(exporter)
    except ValueError:
        print(f"{exporter!r} is not an IP address", file=sys.stderr)
        return 1
    data = MetadataCache(client).dump(address)
    if as_json:
        print(json.dumps(data, indent=2))
        return 0 if data["exporter"] or data["interfaces"] else 1
    if not data["exporter"] and not data["interfaces"]:
        print(f"nothing cached for exporter {address}")
        return 1
    exp = data["exporter"]
    now = time.time()
    age = f"{now - float(exp['updated']):.0f}s ago" if "updated" in exp else "never"
    if exp.get("state") == "missing":
        print(f"exporter {address}: unknown to every provider (polled {age})")
    else:
        fields = " ".join(
            f"{k}={exp[k]}" for k in ("group", "role", "site", "region", "tenant") if exp.get(k)
        )
        print(
            f"exporter {address}: {exp.get('name', '')} {fields} [{exp.get('provider', '')}, polled {age}]"
        )
    if data["breaker"].get("opened"):
        print(f"  breaker open since {now - float(data['breaker']['opened']):.0f}s")
    for ifindex, rec in data["interfaces"].items():
        if rec.get("missing"):
            print(f"  {ifindex:>6}  (missing: {rec.get('reason', '')})")
        else:
            print(
                f"  {ifindex:>6}  {rec['name']:<20} {rec['speed']:>7} Mbit/s  {rec['description']}"
                + (f"  [{rec['source']}]" if rec.get("source") else "")
            )
    return 0
