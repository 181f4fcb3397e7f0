"""Benchmark of the enrichment cache: `python -m bench.enrich`.

Prints, each beside a reference measured in the same run:
- lookups/s served from the outlet's in-process cache (reference: a bare dict lookup loop);
- lookups/s served from Redis (in-process cache off; reference: bare Redis HGET round trips);
- the time a lookup waits when nobody answers (a dead agent, no worker), longest and median,
  beside query-timeout (the bound it should stay close to; moved here from the test suite);
- refresh tasks/s against an snmpsim router, in-process (the task body alone, one process) and
  through Celery (`flowweir enrich worker`, 2 processes, queued to exported records); reference:
  bare pysnmp GETs of the same varbinds, one process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import redis
import yaml

from collector.config.root import parse_config
from collector.config.shared import EnrichmentClientConfig, RedisConfig
from collector.devservices.base import Service, wait_for
from collector.devservices.redis import RedisServer
from collector.devservices.snmp import SnmpSim
from collector.metrics.stats import Stats
from enrich.cache import Answer, Exporter, Interface, MetadataCache
from enrich.client import CLIENT_METRICS, MetadataClient
from enrich.refresh import Refresher

ROOT = Path(__file__).resolve().parents[2]
IFINDEXES = 10  # interfaces asked per exporter in the refresh benchmarks


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f}/s"


def bench_lookups(url: str, n_local: int, n_redis: int) -> None:
    cache = MetadataCache(redis.Redis.from_url(url))
    exporters = [f"10.1.0.{i}" for i in range(1, 11)]
    for e in exporters:
        ans = Answer(exporter=Exporter(name=f"r{e}", site="par1"), provider="static")
        ans.interfaces = {
            i: Interface(name=f"et-0/0/{i}", description=f"customer {i}", speed=10000)
            for i in range(1, 101)
        }
        cache.store(e, ans)
    keys = [(e, i) for e in exporters for i in range(1, 101)]

    config = EnrichmentClientConfig.model_validate({"initial-delay": 0, "local-cache-ttl": 3600})
    client = MetadataClient(config, RedisConfig(url=url), Stats(CLIENT_METRICS))
    for e, i in keys:
        client.lookup(e, i)  # warm the in-process cache
    t0 = time.perf_counter()
    for k in range(n_local):
        e, i = keys[k % len(keys)]
        client.lookup(e, i)
    local = time.perf_counter() - t0
    plain = {k: k for k in keys}
    t0 = time.perf_counter()
    for k in range(n_local):
        plain.get(keys[k % len(keys)])
    ref = time.perf_counter() - t0
    print(
        f"lookups, in-process cache   {rate(n_local, local)}   reference dict.get {rate(n_local, ref)}"
    )

    config = EnrichmentClientConfig.model_validate({"initial-delay": 0, "local-cache-ttl": 0})
    client = MetadataClient(config, RedisConfig(url=url), Stats(CLIENT_METRICS))
    t0 = time.perf_counter()
    for k in range(n_redis):
        e, i = keys[k % len(keys)]
        assert client.lookup(e, i).found  # type: ignore[union-attr]
    from_redis = time.perf_counter() - t0
    r = redis.Redis.from_url(url)
    t0 = time.perf_counter()
    for k in range(n_redis):
        e, i = keys[k % len(keys)]
        r.hget(f"flowweir:md:v1:if:{e}", str(i))
    ref = time.perf_counter() - t0
    print(
        f"lookups, from Redis         {rate(n_redis, from_redis)}   reference bare HGET {rate(n_redis, ref)}"
    )


def bench_unanswered(url: str, n: int, query_timeout: float = 0.15) -> None:
    """Lookups of interfaces nobody will ever describe: each waits about query-timeout."""
    config = EnrichmentClientConfig.model_validate(
        {"initial-delay": 0, "query-timeout": query_timeout, "queue": "bench-unanswered"}
    )
    client = MetadataClient(config, RedisConfig(url=url), Stats(CLIENT_METRICS))
    waits = []
    for ifindex in range(1, n + 1):
        t0 = time.perf_counter()
        md = client.lookup("192.0.2.66", ifindex)
        waits.append(time.perf_counter() - t0)
        assert md is not None and not md.found
    client.close()
    waits.sort()
    print(
        f"lookup nobody answers: longest {waits[-1] * 1000:6.0f} ms, median "
        f"{waits[len(waits) // 2] * 1000:6.0f} ms   reference query-timeout "
        f"{query_timeout * 1000:.0f} ms   ({n} lookups)"
    )


def enrich_config(url: str, sim: SnmpSim, exporters: list[str]) -> dict:
    return {
        "redis": {"url": url},
        "enrich": {
            "http": {"listen": "127.0.0.1:0"},
            "providers": ["snmp"],
            "queue": "bench-enrich",
            "concurrency": 2,
            "snmp": {
                "timeout": 2,
                "retries": 0,
                "communities": {"10.0.0.0/8": [sim.community]},
                "ports": {"10.0.0.0/8": sim.port},
                "agents": dict.fromkeys(exporters, "127.0.0.1"),
            },
        },
    }


def bench_refresh(url: str, sim: SnmpSim, n: int) -> None:
    exporters = [f"10.2.{i // 250}.{i % 250 + 1}" for i in range(n)]
    data = enrich_config(url, sim, exporters)
    config = parse_config(data)
    r = redis.Redis.from_url(url)
    cache = MetadataCache(r)

    # Reference: bare pysnmp GETs of the same varbinds.
    from enrich.providers.snmp import SNMPProvider

    provider = SNMPProvider(config.enrich.snmp)
    wanted = set(range(1, IFINDEXES + 1))
    provider.query(exporters[0], wanted)
    t0 = time.perf_counter()
    for e in exporters:
        provider.query(e, wanted)
    ref = time.perf_counter() - t0
    provider.close()

    r.flushdb()
    refresher = Refresher(config.enrich, r)
    t0 = time.perf_counter()
    for e in exporters:
        cache.want_many(e, wanted, 30)
        refresher.refresh(e)
    inproc = time.perf_counter() - t0
    refresher.close()
    assert cache.dump(exporters[-1])["interfaces"][1]["name"] == "et-0/0/0"
    print(
        f"refreshes, task body (1 proc) {rate(n, inproc)}   reference pysnmp GET {rate(n, ref)}"
        f"   ({1 + 4 * IFINDEXES} varbinds each)"
    )

    # Through Celery: a real worker with 2 processes; queue every task, wait for every record.
    r.flushdb()
    tmp = Path(tempfile.mkdtemp(prefix="bench-enrich-"))
    (tmp / "flowweir.yaml").write_text(yaml.safe_dump(data))
    worker = Service()
    worker._spawn(
        [
            sys.executable,
            "-m",
            "collector.cli",
            "enrich",
            "worker",
            "--config",
            str(tmp / "flowweir.yaml"),
        ],
        env={"PYTHONPATH": str(ROOT)},
    )
    try:
        wait_for(lambda: " ready." in worker.log_path.read_text(), 30, "celery worker", 0.1)
        from celery import Celery

        app = Celery(broker=url)
        app.conf.task_default_queue = "bench-enrich"
        t0 = time.perf_counter()
        for e in exporters:
            if cache.want_many(e, wanted, 60):
                app.send_task("flowweir.enrich.refresh", args=[e])
        wait_for(lambda: r.zcard("flowweir:md:v1:exporters") >= n, 300, "refreshes", 0.01)
        celery = time.perf_counter() - t0
    finally:
        worker.stop()
    print(f"refreshes, Celery worker (2 procs) {rate(n, celery)}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.enrich")
    parser.add_argument("--local", type=int, default=1_000_000, help="in-process lookups")
    parser.add_argument("--redis", type=int, default=20_000, help="lookups through Redis")
    parser.add_argument("--refresh", type=int, default=300, help="exporters refreshed")
    parser.add_argument("--unanswered", type=int, default=50, help="lookups nobody answers")
    args = parser.parse_args()
    os.environ.setdefault("SNMPSIM_ALLOW_ROOT", "true")
    print(f"load average before: {os.getloadavg()[0]:.2f}  (cores: {os.cpu_count()})")
    with RedisServer() as server, SnmpSim() as sim:
        url = f"redis://127.0.0.1:{server.port}/0"
        bench_lookups(url, args.local, args.redis)
        bench_unanswered(url, args.unanswered)
        bench_refresh(url, sim, args.refresh)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    asyncio.set_event_loop(None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
