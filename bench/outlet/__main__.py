"""bench/outlet: what a flow costs the outlet, and how fast flows reach ClickHouse.

1. Stages, in this process, on pre-built envelopes (NetFlow v9, 30 records per
   datagram, 21 fields): decode, enrich (default config: no metadata source),
   batch building and the clickhouse-driver insert call into the real server
   (Debian's 18.16). CPU microseconds per flow for each, ClickHouse excluded.
   Beside it, the same number of flows as `flowweir demo-exporter`'s three
   routers send them (NetFlow v9, IPFIX, sFlow; IPv4 and IPv6; 24 records or 8
   samples per datagram), enriched: what a mixed deployment costs.
2. End to end: a backlog of envelopes in Kafka (Tansu), one outlet worker
   draining it into ClickHouse; flows/s, outlet CPU per flow, the ClickHouse
   server's CPU share, peak resident memory per outlet process; then the same
   while ClickHouse is stopped and the backlog grows (memory must stay bounded).
3. Reference: pmacct's nfacctd (Debian) receiving the same datagrams over UDP
   and writing CSV files: its CPU per flow.

Run: `.venv/bin/python -m bench.outlet [--datagrams 20000]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from collector.config.root import parse_config
from collector.devservices.base import free_port
from collector.devservices.clickhouse import ClickHouseServer
from collector.devservices.daemon import Daemon
from collector.devservices.kafka import KafkaBroker
from collector.devservices.procstat import children, cpu_seconds, peak_rss_mb, worker_pids
from collector.devservices.redis import RedisServer
from collector.generator.netflow9 import NetFlowV9Exporter, flood
from collector.kafka.envelope import DecoderKind, Envelope, address_to_bytes
from collector.metrics.stats import Stats
from collector.outlet.clickhouse.writer import ClickHouseWriter
from collector.outlet.core.enricher import Enricher
from collector.outlet.core.strings import concatenate
from collector.outlet.decoder import Decoder
from collector.outlet.metrics import OUTLET_METRICS
from collector.schema.columns import COLUMNS
from collector.schema.ddl import SchemaSettings
from collector.schema.executor import DriverExecutor
from collector.schema.migrate import Migrator

RECORDS = 30
DEMO_ROUTERS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")  # flowweir demo-exporter's defaults


def envelopes(count: int, exporters: int = 4) -> list[bytes]:
    out = []
    gens = [NetFlowV9Exporter(source_id=i + 1, seed=i) for i in range(exporters)]
    addrs = [address_to_bytes(f"192.0.2.{i + 1}") for i in range(exporters)]
    now = time.time_ns()
    for i, g in enumerate(gens):
        out.append(Envelope(DecoderKind.NETFLOW, now, addrs[i], 2055, g.templates()).encode())
    prepared = [[g.datagram()[0] for _ in range(50)] for g in gens]
    for n in range(count):
        e = n % exporters
        out.append(
            Envelope(
                DecoderKind.NETFLOW, now, addrs[e], 2055, prepared[e][n // exporters % 50]
            ).encode()
        )
    return out


def demo_envelopes(flows: int) -> list[bytes]:
    """`flows` flows from the demo exporter's default routers, a third each, as envelopes."""
    from collector.demoexporter.config import DemoExporterConfig
    from collector.demoexporter.metrics import METRICS as DEMO_METRICS
    from collector.demoexporter.root import RouterExporter

    config = DemoExporterConfig(daily_pattern=False)
    now = time.time()
    out = []
    for n, router in enumerate(config.routers):
        exporter = RouterExporter(router, config, n + 1, Stats(DEMO_METRICS))
        kind = DecoderKind.SFLOW if router.protocol == "sflow" else DecoderKind.NETFLOW
        port = 6343 if router.protocol == "sflow" else 2055
        addr = address_to_bytes(router.address)
        datagrams = exporter.templates() + exporter.encode(
            exporter.traffic.flows(flows // len(config.routers), now)
        )
        out += [Envelope(kind, time.time_ns(), addr, port, d).encode() for d in datagrams]
    return out


# The enriched profile: what a deployment configures. Names come from the enrichment
# cache in Redis (filled below as the enrichment workers would), then classifiers,
# networks and the GeoIP test databases shipped in shared/testdata.
GEOIP = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "geoip"
ENRICHED = {
    "metadata": "enrich",
    "exporter-classifiers": [
        {
            "match": {"name": "^(?P<site>[a-z]+[0-9])-edge"},
            "set": {"group": "edge", "role": "peering", "site": "$site"},
        }
    ],
    "interface-classifiers": [
        {
            "match": {"description": r"^(?P<kind>Transit|Peering): (?P<provider>\S+)"},
            "set": {"connectivity": "$kind", "provider": "$provider", "boundary": "external"},
        },
        {"match": {"interface": "^(ae|et)-"}, "set": {"boundary": "internal"}},
    ],
    "networks": {
        "10.0.0.0/8": {"name": "corp", "role": "internal", "site": "par1"},
        "198.51.100.0/24": {"name": "customers", "tenant": "acme"},
    },
    "geoip": {
        "asn-database": str(GEOIP / "GeoLite2-ASN-Test.mmdb"),
        "geo-database": str(GEOIP / "GeoLite2-City-Test.mmdb"),
    },
}


def fill_metadata_cache(redis_url: str, exporters: int = 4) -> None:
    import redis

    from collector.demoexporter.config import DemoExporterConfig
    from enrich.cache import Answer, Exporter, Interface, MetadataCache

    cache = MetadataCache(redis.Redis.from_url(redis_url))
    for router in DemoExporterConfig().routers:  # what its SNMP agents answer
        cache.store(
            router.address,
            Answer(
                exporter=Exporter(name=router.name),
                interfaces={
                    i.index: Interface(name=i.name, description=i.description, speed=i.speed)
                    for i in router.interfaces
                },
                provider="snmp",
            ),
        )
    for e in range(exporters):
        cache.store(
            f"192.0.2.{e + 1}",
            Answer(
                exporter=Exporter(name=f"par{e + 1}-edge1", region="europe", tenant="ops"),
                interfaces={
                    i: Interface(
                        name=f"et-0/0/{i}",
                        description=f"{'Transit' if i % 2 else 'Peering'}: provider{i}",
                        speed=100_000,
                    )
                    for i in range(1, 5)
                },
                provider="static",
            ),
        )


def outlet_section(profile: str) -> dict[str, Any]:
    return {"metadata": "none"} if profile == "bare" else dict(ENRICHED)


def stages(
    ch: ClickHouseServer, records: list[bytes], batch_size: int, profile: str, redis_url: str
) -> dict[str, float]:
    from collector.kafka.envelope import decode_envelope
    from enrich.client import MetadataClient

    config = parse_config(
        {
            "clickhouse": {"servers": [ch.address]},
            "redis": {"url": redis_url},
            "outlet": outlet_section(profile),
        }
    )
    stats = Stats(OUTLET_METRICS)
    decoder = Decoder(stats)
    metadata = (
        MetadataClient(config.outlet.enrichment, config.redis, stats)
        if config.outlet.metadata == "enrich"
        else None
    )
    enricher = Enricher(config.outlet, stats, metadata)
    writer = ClickHouseWriter(config.clickhouse, stats)
    cpu = {"decode": 0.0, "enrich": 0.0, "batch": 0.0, "insert": 0.0}
    flows = 0
    chunks = []
    for start in range(0, len(records), 2000):
        t0 = time.process_time()
        for r in records[start : start + 2000]:
            decoder.feed(enricher.observe(decode_envelope(r)))
        batch = decoder.flush()
        t1 = time.process_time()
        cols = enricher.enrich(batch)
        t2 = time.process_time()
        cpu["decode"] += t1 - t0
        cpu["enrich"] += t2 - t1
        chunks.append(cols)
        pending = sum(len(c["TimeReceived"]) for c in chunks)
        if pending >= batch_size or start + 2000 >= len(records):
            t3 = time.process_time()
            columns = {c.name: concatenate([ch_[c.name] for ch_ in chunks]) for c in COLUMNS}
            t4 = time.process_time()
            writer.insert(columns, lambda: False, lambda: None)
            t5 = time.process_time()
            cpu["batch"] += t4 - t3
            cpu["insert"] += t5 - t4
            flows += pending
            chunks = []
    writer.close()
    enricher.close()
    result = {k: v / flows * 1e6 for k, v in cpu.items()}
    return result | {"total": sum(result.values()), "flows": flows}


def produce_all(producer: Any, records: list[bytes]) -> None:
    for r in records:
        while True:
            try:
                producer.produce("bench-v1", r)
                break
            except BufferError:  # queue full: let librdkafka send
                producer.poll(0.1)
    producer.flush(60)


def end_to_end(
    ch: ClickHouseServer, records: list[bytes], outage: float, redis_url: str
) -> dict[str, float]:
    from confluent_kafka import Producer

    broker = KafkaBroker().start()
    try:
        broker.create_topic("bench-v1", partitions=1)
        p = Producer(
            {"bootstrap.servers": broker.bootstrap, "linger.ms": 50, "compression.type": "lz4"}
        )
        produce_all(p, records)
        client = ch.client("flowweir")
        before = client.execute("SELECT count() FROM flows")[0][0]
        expected = before + (len(records) - 4) * RECORDS
        outlet = Daemon(
            "outlet",
            {
                "kafka": {"brokers": [broker.bootstrap], "topic": "bench"},
                "clickhouse": {"servers": [ch.address]},
                "redis": {"url": redis_url},
                "outlet": outlet_section("enriched")
                | {"template-store": "memory", "session-timeout": 3, "maximum-wait-time": 2},
            },
        ).start()
        workers = worker_pids(outlet.proc.pid)
        ch_cpu0 = cpu_seconds(ch.proc.pid)
        w_cpu0 = sum(cpu_seconds(w) for w in workers)
        t0 = time.monotonic()
        while (
            client.execute("SELECT count() FROM flows")[0][0] < expected
            and time.monotonic() - t0 < 600
        ):
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        flows = client.execute("SELECT count() FROM flows")[0][0] - before
        result = {
            "flows": flows,
            "seconds": elapsed,
            "flows_per_s": flows / elapsed,
            "outlet_us_per_flow": (sum(cpu_seconds(w) for w in workers) - w_cpu0) / flows * 1e6,
            "clickhouse_us_per_flow": (cpu_seconds(ch.proc.pid) - ch_cpu0) / flows * 1e6,
            "rss_parent_mb": peak_rss_mb(outlet.proc.pid),
            "rss_worker_mb": max(peak_rss_mb(w) for w in workers),
        }
        if outage:
            # ClickHouse down while a new backlog arrives: the outlet must wait, not grow.
            ch.pause()
            try:
                produce_all(p, records)
                time.sleep(outage)
                result["rss_worker_outage_mb"] = max(peak_rss_mb(w) for w in workers)
            finally:
                ch.resume()
        outlet.stop()
        return result
    finally:
        broker.stop()


def nfacctd(records: list[bytes], datagrams: int) -> dict[str, float] | None:
    binary = shutil.which("nfacctd")
    if not binary:
        print("nfacctd not installed (Debian package pmacct): skipped")
        return None
    work = Path(tempfile.mkdtemp(prefix="bench-nfacctd-"))
    port = free_port(2)
    (work / "nfacctd.conf").write_text(
        f"daemonize: false\nnfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nnfacctd_rcvbuf_size: 33554432\n"
        "plugins: print[out]\nprint_output[out]: csv\n"
        f"print_output_file[out]: {work}/flows-%s.csv\nprint_refresh_time[out]: 2\n"
        "aggregate[out]: src_host, dst_host, src_port, dst_port, proto, in_iface, out_iface, tos\n"
    )
    proc = subprocess.Popen(
        [binary, "-f", str(work / "nfacctd.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(1.5)
    tree = [proc.pid, *children(proc.pid)]
    cpu0 = sum(cpu_seconds(p) for p in tree)
    flood(("127.0.0.1", port), datagrams, rate=20_000)
    time.sleep(4)  # one print refresh: the plugin writes its files
    tree = [proc.pid, *children(proc.pid)]
    cpu = sum(cpu_seconds(p) for p in tree) - cpu0
    rss = max(peak_rss_mb(p) for p in tree)
    os.killpg(proc.pid, signal.SIGTERM)  # nfacctd and its plugin processes
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    shutil.rmtree(work, ignore_errors=True)
    return {"us_per_flow": cpu / (datagrams * RECORDS) * 1e6, "rss_mb": rss}


def main() -> None:
    import logging

    logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser()
    parser.add_argument("--datagrams", type=int, default=20_000, help="30-flow datagrams per phase")
    parser.add_argument(
        "--outage", type=float, default=10.0, help="seconds ClickHouse stays stopped"
    )
    args = parser.parse_args()
    load = Path("/proc/loadavg").read_text().split()[0]
    print(
        f"bench/outlet: {args.datagrams} NetFlow v9 datagrams x {RECORDS} flows; load {load}",
        flush=True,
    )
    records = envelopes(args.datagrams)
    with ClickHouseServer() as ch, RedisServer() as rd:
        Migrator(
            DriverExecutor(ch.address),
            SchemaSettings(),
            dictionaries_path=str(ch.dir / "dictionaries"),
        ).migrate()
        fill_metadata_cache(rd.url)
        profiles = {p: stages(ch, records, 50_000, p, rd.url) for p in ("bare", "enriched")}
        flows = profiles["bare"]["flows"]
        demo = stages(ch, demo_envelopes(int(flows)), 50_000, "enriched", rd.url)
        print(f"\noutlet CPU per flow, in process ({flows:.0f} flows, batches of 50,000), us:")
        print("  bare: no metadata, classifiers or networks; enriched: names from the Redis cache,")
        print("  exporter + interface classifiers, 2 networks, GeoIP ASN + City databases;")
        print("  demo mix: enriched, on the demo exporter's NetFlow v9 + IPFIX + sFlow traffic")
        print(f"  {'stage':8s} {'bare':>8s} {'enriched':>9s} {'demo mix':>9s}")
        for k in ("decode", "enrich", "batch", "insert", "total"):
            print(
                f"  {k:8s} {profiles['bare'][k]:8.2f} {profiles['enriched'][k]:9.2f} {demo[k]:9.2f}"
            )
        print("  (target <= 2 us per flow, ClickHouse server excluded)")
        total = profiles["enriched"]["total"]
        e2e = end_to_end(ch, records, args.outage, rd.url)
    print(
        "\nend to end, enriched profile, Kafka backlog -> 1 outlet worker -> ClickHouse 18.16 "
        "on this machine:"
    )
    print(
        f"  {e2e['flows_per_s']:,.0f} flows/s ({e2e['flows']:.0f} flows in {e2e['seconds']:.1f} s)"
    )
    print(
        f"  outlet worker CPU {e2e['outlet_us_per_flow']:.2f} us/flow, ClickHouse server CPU "
        f"{e2e['clickhouse_us_per_flow']:.2f} us/flow"
    )
    print(
        f"  peak RSS: outlet parent {e2e['rss_parent_mb']:.0f} MB, worker {e2e['rss_worker_mb']:.0f} MB"
        + (
            f", worker after {args.outage:.0f} s with ClickHouse down and a new backlog "
            f"{e2e['rss_worker_outage_mb']:.0f} MB"
            if "rss_worker_outage_mb" in e2e
            else ""
        )
        + " (limit 400 MB)"
    )
    ref = nfacctd(records, args.datagrams)
    if ref:
        print(
            f"\nreference: nfacctd -> CSV files: {ref['us_per_flow']:.2f} us/flow CPU, peak RSS {ref['rss_mb']:.0f} MB"
        )
        print(
            f"outlet (in process, all stages) / nfacctd CPU per flow: {total / ref['us_per_flow']:.2f}x"
        )


if __name__ == "__main__":
    main()
