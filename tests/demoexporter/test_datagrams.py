"""What `flowweir demo-exporter` sends decodes, with flowweir's decoder and with tshark, into the
configured routers and interfaces, with a mix of traffic a console would show."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import dpkt
import pytest

from collector.outlet.decoder import Decoder
from collector.outlet.decoder import metrics as dm
from collector.outlet.decoder.decoder import make_envelope
from tests.demoexporter.conftest import INTERFACES, ROUTERS, RunningExporter
from tests.outlet.decoder.helpers import KEYS, match_records, tshark_records

EXTERNAL = {10, 11}
INTERNAL = {20, 21}
VERSION = {"netflow9": b"\x00\x09", "ipfix": b"\x00\x0a", "sflow": b"\x00\x00"}


def decode(datagrams: list[bytes], exporter: str) -> tuple[list[dict], Decoder]:
    decoder = Decoder()
    for d in datagrams:
        decoder.feed(make_envelope(d, exporter))
    return decoder.flush().to_rows(), decoder


@pytest.mark.parametrize("router", ROUTERS, ids=[r["protocol"] for r in ROUTERS])
def test_each_router_decodes_into_its_interfaces_and_sampling_rate(
    demo_exporter: RunningExporter, router: dict
) -> None:
    datagrams = demo_exporter.capture.from_source(router["address"])
    assert {d[:2] for d in datagrams} == {VERSION[router["protocol"]]}
    rows, decoder = decode(datagrams, router["address"])
    errors = {k: v for (name, k), v in decoder.stats.values.items() if name == dm.ERRORS and v}
    assert errors == {}, "the decoder counted malformed datagrams"
    assert decoder.pending() == 0, "data arrived before its template"
    assert len(rows) >= 50
    assert {r["ExporterAddress"] for r in rows} == {router["address"]}
    assert {r["SamplingRate"] for r in rows} == {router["sampling-rate"]}
    # traffic crosses the router: in through an external interface and out an internal one, or back
    directions = {(r["InIf"] in EXTERNAL, r["OutIf"] in INTERNAL) for r in rows}
    assert {(r["InIf"], r["OutIf"]) for r in rows} <= {
        (a, b) for a in EXTERNAL | INTERNAL for b in EXTERNAL | INTERNAL
    }
    assert directions == {(True, True), (False, False)}
    assert all((r["InIf"] in EXTERNAL) != (r["OutIf"] in EXTERNAL) for r in rows)
    seen_ifaces = {r["InIf"] for r in rows} | {r["OutIf"] for r in rows}
    assert seen_ifaces == {i["index"] for i in INTERFACES}


def test_the_traffic_is_a_plausible_mix(demo_exporter: RunningExporter) -> None:
    rows = []
    for router in ROUTERS:
        rows += decode(demo_exporter.capture.from_source(router["address"]), router["address"])[0]
    services = {(r["Proto"], min(r["SrcPort"], r["DstPort"])) for r in rows if r["Proto"] != 1}
    assert {(6, 443), (17, 443), (6, 80)} <= services
    assert {r["EType"] for r in rows} == {0x0800, 0x86DD}  # IPv4 and IPv6
    assert {15169, 2906, 13335} <= {r["SrcAS"] for r in rows}  # Google, Netflix, Cloudflare
    assert {r["DstAS"] for r in rows} & {64500}
    now = time.time()
    assert all(now - 120 < r["TimeReceived"] <= now + 1 for r in rows)
    sizes = [r["Bytes"] / r["Packets"] for r in rows]
    assert min(sizes) < 300 and max(sizes) > 1200  # requests and acknowledgements, full packets


def _pcap(path: Path, datagrams: list[tuple[bytes, str, int]]) -> None:
    """The datagrams as they travelled (source: the router), to the ports tshark knows."""
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_EN10MB)
        for n, (data, source, dport) in enumerate(datagrams):
            udp = dpkt.udp.UDP(sport=50000, dport=dport, data=data)
            udp.ulen = len(udp)
            ip = dpkt.ip.IP(
                src=socket.inet_aton(source),
                dst=socket.inet_aton("127.0.0.1"),
                p=dpkt.ip.IP_PROTO_UDP,
                data=udp,
            )
            ip.len = len(ip)
            eth = dpkt.ethernet.Ethernet(data=ip, type=dpkt.ethernet.ETH_TYPE_IP)
            writer.writepkt(bytes(eth), ts=1_700_000_000 + n / 1000)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("router", ROUTERS, ids=[r["protocol"] for r in ROUTERS])
def test_tshark_decodes_the_same_flows(
    demo_exporter: RunningExporter, router: dict, tmp_path: Path
) -> None:
    datagrams = demo_exporter.capture.from_source(router["address"])[:40]
    port = 6343 if router["protocol"] == "sflow" else 2055  # tshark's default ports
    _pcap(tmp_path / "demo.pcap", [(d, router["address"], port) for d in datagrams])
    theirs = tshark_records([tmp_path / "demo.pcap"])
    assert len(theirs) >= 20, "tshark found few flows: the oracle is broken"
    ours = [{k: r[k] for k in KEYS} for r in decode(datagrams, router["address"])[0]]
    assert match_records(ours, theirs) == []
