"""Decoder throughput: NetFlow v9 and IPFIX flows/s and sFlow samples/s per core.

Run: .venv/bin/python -m bench.decode [--seconds 3] [--hostile [--redis]]
Prints our vectorised decoder beside the PyPI `netflow` package (pure Python) decoding the
very same datagrams in the same run. CPU time of this process is the measure (per core).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import struct
import time
from collections.abc import Callable

from collector.kafka.envelope import DecoderKind, Envelope, address_to_bytes
from collector.outlet.decoder import Decoder

RECORDS = 30  # per datagram
# 20 typical fields: addresses, interfaces, counters, times, ports, flags, AS, masks, direction
FIELDS = [
    (8, 4), (12, 4), (15, 4), (10, 4), (14, 4), (2, 4), (1, 4), (22, 4), (21, 4), (7, 2),
    (11, 2), (6, 1), (4, 1), (5, 1), (16, 4), (17, 4), (9, 1), (13, 1), (61, 1), (89, 1),
]  # fmt: skip
REC_FMT = "!4s4s4sIIIIIIHHBBBIIBBBB"
EXPORTER = address_to_bytes("192.0.2.1")


def _record(rnd: random.Random) -> bytes:
    return struct.pack(
        REC_FMT,
        rnd.randbytes(4), rnd.randbytes(4), rnd.randbytes(4), rnd.randrange(1, 500),
        rnd.randrange(1, 500), rnd.randrange(1, 100), rnd.randrange(40, 150000),
        rnd.randrange(1 << 31), rnd.randrange(1 << 31), rnd.randrange(65536), rnd.randrange(65536),
        rnd.randrange(256), rnd.choice((6, 17)), 0, rnd.randrange(1 << 16), rnd.randrange(1 << 16),
        rnd.randrange(33), rnd.randrange(33), rnd.randrange(2), 64,
    )  # fmt: skip


def netflow_datagrams(version: int, count: int, seed: int = 1) -> tuple[bytes, list[bytes]]:
    """(template datagram, `count` data datagrams of 30 records each)."""
    rnd = random.Random(seed)
    fields = b"".join(struct.pack("!HH", ie, ln) for ie, ln in FIELDS)
    tset = struct.pack("!HHHH", 0 if version == 9 else 2, 8 + len(fields), 256, len(FIELDS))
    pool = [_record(rnd) for _ in range(2000)]

    def datagram(body: bytes, n: int, seq: int) -> bytes:
        if version == 9:
            return struct.pack("!HHIIII", 9, n, 123456, 1700000000, seq, 0) + body
        return struct.pack("!HHIII", 10, 16 + len(body), 1700000000, seq, 0) + body

    template = datagram(tset + fields, 1, 0)
    out = []
    for i in range(count):
        recs = b"".join(pool[(i * RECORDS + j) % len(pool)] for j in range(RECORDS))
        out.append(datagram(struct.pack("!HH", 256, 4 + len(recs)) + recs, RECORDS, i + 1))
    return template, out


def _frame(rnd: random.Random) -> bytes:
    l4 = struct.pack("!HHIIBBHHH", rnd.randrange(65536), rnd.randrange(65536), 1, 2, 0x50, 0x10,
                     1000, 0, 0) + b"\0" * 40  # fmt: skip
    if rnd.random() < 0.3:
        ip = struct.pack("!IHBB16s16s", 0x60000000, len(l4), 6, 64, rnd.randbytes(16),
                         rnd.randbytes(16))  # fmt: skip
        etype = 0x86DD
    else:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, 6, 0,
                         rnd.randbytes(4), rnd.randbytes(4))  # fmt: skip
        etype = 0x0800
    eth = rnd.randbytes(12) + struct.pack("!HHH", 0x8100, rnd.randrange(1, 4095), etype)
    return (eth + ip + l4)[:128]


def sflow_datagrams(count: int, samples: int = 6, seed: int = 2) -> list[bytes]:
    """sFlow v5 datagrams of `samples` flow samples, each extended switch + raw header."""
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        body = b""
        for s in range(samples):
            hdr = _frame(rnd)
            raw = struct.pack("!IIII", 1, 1514, 4, len(hdr)) + hdr
            recs = struct.pack("!II", 1001, 16) + struct.pack("!IIII", 10, 0, 20, 0)
            recs += struct.pack("!II", 1, len(raw)) + raw
            sample = struct.pack("!IIIIIIII", i * samples + s, 3, 1024, 1 << 20, 0,
                                 rnd.randrange(1, 100), rnd.randrange(1, 100), 2) + recs  # fmt: skip
            body += struct.pack("!II", 1, len(sample)) + sample
        out.append(struct.pack("!II4sIIII", 5, 1, b"\xc0\x00\x02\x01", 0, i, 1000, samples) + body)
    return out


def _measure(runs: dict[str, Callable[[], int]], seconds: float) -> dict[str, tuple[float, int]]:
    """Median items per CPU second of each runner, interleaved round-robin for about `seconds`
    each, so that a busy moment of the machine or a garbage collection hits all of them alike."""
    rates: dict[str, list[float]] = {name: [] for name in runs}
    items = dict.fromkeys(runs, 0)
    spent = dict.fromkeys(runs, 0.0)
    for run in runs.values():
        run()  # warm up: first allocations, caches
    while min(spent.values()) < seconds or min(len(r) for r in rates.values()) < 5:
        for name, run in runs.items():
            start = time.process_time()
            n = run()
            took = time.process_time() - start
            spent[name] += took
            items[name] += n
            rates[name].append(n / max(took, 1e-9))
    return {name: (statistics.median(rates[name]), items[name]) for name in runs}


def ours(kind: DecoderKind, datagrams: list[bytes], prelude: list[bytes], flush_every: int):
    decoder = Decoder()
    for d in prelude:
        decoder.feed(Envelope(kind, 1, EXPORTER, 2055, d))
    decoder.flush()
    envs = [Envelope(kind, 1_700_000_000_000_000_000, EXPORTER, 2055, d) for d in datagrams]

    def run() -> int:
        n = 0
        for i in range(0, len(envs), flush_every):
            for env in envs[i : i + flush_every]:
                decoder.feed(env)
            n += decoder.flush().n
        return n

    return run


def reference(datagrams: list[bytes], prelude: list[bytes]):
    import netflow

    templates: dict = {"netflow": {}, "ipfix": {}}
    for d in prelude:
        netflow.parse_packet(d, templates)

    def run() -> int:
        return sum(len(netflow.parse_packet(d, templates).flows) for d in datagrams)

    return run


def sflow_reference(datagrams: list[bytes]):
    """The PyPI netflow package has no sFlow: a plain Python walk with dpkt parsing each header."""
    import dpkt

    def run() -> int:
        n = 0
        for d in datagrams:
            nsamples = struct.unpack_from("!I", d, 24)[0]
            p = 28
            for _ in range(nsamples):
                fmt, slen = struct.unpack_from("!II", d, p)
                q, p = p + 8, p + 8 + slen
                if fmt != 1:
                    continue
                _, _, rate, _, _, inif, outif, nrec = struct.unpack_from("!8I", d, q)
                r = q + 32
                flow = {"rate": rate, "in": inif, "out": outif}
                for _ in range(nrec):
                    rfmt, rlen = struct.unpack_from("!II", d, r)
                    if rfmt == 1001:
                        flow["vlan"] = struct.unpack_from("!I", d, r + 8)[0]
                    elif rfmt == 1:
                        _, flen, _, hlen = struct.unpack_from("!4I", d, r + 8)
                        eth = dpkt.ethernet.Ethernet(d[r + 24 : r + 24 + hlen])
                        ip = eth.data
                        flow.update(bytes=flen, src=ip.src, dst=ip.dst)
                        if isinstance(ip.data, dpkt.tcp.TCP | dpkt.udp.UDP):
                            flow.update(sport=ip.data.sport, dport=ip.data.dport)
                    r += 8 + rlen
                n += 1
        return n

    return run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.decode")
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per measurement")
    parser.add_argument("--datagrams", type=int, default=2000)
    parser.add_argument(
        "--flush", type=int, default=1000, help="datagrams (Kafka records) fed per flush()"
    )
    parser.add_argument(
        "--hostile",
        action="store_true",
        help="crafted input (template, sampler-id floods, zero-length fields, pending sets): "
        "worst datagram and flush beside a normal datagram of the same size",
    )
    parser.add_argument(
        "--redis", action="store_true", help="with --hostile: pending sets against a real Redis"
    )
    args = parser.parse_args()
    if args.hostile:
        from bench.decode import hostile

        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        if args.redis:
            from collector.devservices.redis import RedisServer

            with RedisServer() as server:
                hostile.run(redis_url=server.url)
        else:
            hostile.run()
        return
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"{RECORDS} records of {len(FIELDS)} fields per NetFlow datagram; flush() every "
          f"{args.flush} datagrams")  # fmt: skip
    runs: dict[str, Callable[[], int]] = {}
    refs: dict[str, Callable[[], int]] = {}
    for version, name in ((9, "NetFlow v9"), (10, "IPFIX")):
        template, datagrams = netflow_datagrams(version, args.datagrams)
        runs[name] = ours(DecoderKind.NETFLOW, datagrams, [template], args.flush)
        refs[name] = reference(datagrams[:100], [template])
    sflow = sflow_datagrams(args.datagrams // 2)
    runs["sFlow v5"] = ours(DecoderKind.SFLOW, sflow, [], args.flush)
    refs["sFlow v5"] = sflow_reference(sflow[:100])
    got = _measure(runs, args.seconds)
    ref = _measure(refs, args.seconds / 3)
    for name in runs:
        unit = "samples" if name.startswith("sFlow") else "flows"
        refname = "python+dpkt" if name.startswith("sFlow") else "netflow (PyPI)"
        rate, n = got[name]
        print(
            f"{name:11s} flowweir {rate:>11,.0f} {unit}/s/core   {refname} {ref[name][0]:>9,.0f} "
            f"{unit}/s/core   x{rate / ref[name][0]:.0f}   ({n:,} {unit})"
        )
    print("sFlow: 6 flow samples per datagram (raw header + extended switch); the PyPI netflow "
          "package has no sFlow decoder, hence the Python + dpkt reference")  # fmt: skip


if __name__ == "__main__":
    main()
