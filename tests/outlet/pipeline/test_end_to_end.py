"""Inlet -> Kafka -> outlet -> ClickHouse with real services: what the decoder alone finds is what lands."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

import dpkt
import pytest

from collector.devservices.base import wait_for
from collector.kafka.envelope import DecoderKind
from collector.outlet.decoder import Decoder, decode_datagrams

TESTDATA = Path(__file__).resolve().parents[4] / "shared" / "testdata"
NETFLOW = [
    "template.pcap",
    "data.pcap",
    "options-template.pcap",
    "options-data.pcap",
    "nfv5.pcap",
    "icmp-template.pcap",
    "icmp-data.pcap",
    "samplingrate-template.pcap",
    "samplingrate-data.pcap",
    "mpls.pcap",
    "nat.pcap",
    "physicalinterfaces.pcap",
]
SFLOW = [
    "data-1140.pcap",
    "data-icmpv4.pcap",
    "data-icmpv6.pcap",
    "data-local-interface.pcap",
    "data-discard-interface.pcap",
    "data-sflow-expanded-sample.pcap",
    "data-sflow-raw-ipv4.pcap",
]


def udp_payloads(path: Path) -> list[bytes]:
    out = []
    with path.open("rb") as handle:
        for _, frame in dpkt.pcap.Reader(handle):
            eth = dpkt.ethernet.Ethernet(frame)
            ip = eth.data
            if isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6) and isinstance(ip.data, dpkt.udp.UDP):
                out.append(bytes(ip.data.data))
    return out


def send_all(port: int, payloads: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for p in payloads:
            sock.sendto(p, ("127.0.0.1", port))
            time.sleep(0.002)  # a pace, not a wait: keep the captures' order (templates first)


def test_captures_reach_flows_and_rollups_like_the_decoder_alone(pipeline):
    nf = [p for name in NETFLOW for p in udp_payloads(TESTDATA / "netflow" / name)]
    sf = [p for name in SFLOW for p in udp_payloads(TESTDATA / "sflow" / name)]
    expected_nf = decode_datagrams(nf, "127.0.0.1", Decoder())
    expected_sf = decode_datagrams(sf, "127.0.0.1", Decoder())
    expected = expected_nf.n + expected_sf.n
    expected_bytes = int(expected_nf.columns["Bytes"].sum() + expected_sf.columns["Bytes"].sum())
    assert expected_nf.n > 20 and expected_sf.n > 5

    pipeline.inlet()
    pipeline.outlet(
        **{
            "exporter-classifiers": [
                {
                    "match": {"ip": ["0.0.0.0/0", "::/0"]},
                    "set": {"name": "edge1.par", "group": "edge", "site": "par"},
                }
            ],
            "interface-classifiers": [
                {
                    "match": {"speed": ">=0"},
                    "set": {
                        "name": "if-$x",
                        "connectivity": "transit",
                        "provider": "cogent",
                        "boundary": "external",
                    },
                },
            ],
        }
    )
    send_all(pipeline.port, nf)
    send_all(pipeline.sflow_port, sf)
    assert pipeline.wait_rows("flows", expected) == expected
    assert pipeline.query("SELECT sum(Bytes) FROM flows")[0][0] == expected_bytes
    for rollup in ("flows_1m0s", "flows_5m0s", "flows_1h0m0s"):
        assert pipeline.query(f"SELECT sum(Bytes) FROM {rollup}")[0][0] == expected_bytes, rollup
    # enriched with the configured names and classes
    names = pipeline.query("SELECT DISTINCT ExporterName, ExporterGroup, ExporterSite FROM flows")
    assert names == [("edge1.par", "edge", "par")]
    classes = pipeline.query(
        "SELECT DISTINCT InIfConnectivity, InIfProvider, InIfBoundary FROM flows"
    )
    assert classes == [("transit", "cogent", 1)]
    # the README's example flow, as stored
    row = pipeline.query(
        "SELECT SamplingRate, InIf, OutIf, Bytes, Packets, SrcPort, DstPort FROM flows "
        "WHERE SrcAddr = toFixedString(IPv6StringToNum('::ffff:198.38.121.178'), 16) AND DstPort = 19624"
    )
    assert (30000, 335, 450, 1500, 1, 443, 19624) in row
    assert pipeline.count("exporters") > 0


@pytest.mark.skipif(
    not shutil.which("softflowd"), reason="softflowd (Debian) exports the generated traffic"
)
@pytest.mark.parametrize("version", ["9", "10"])
def test_softflowd_export_totals(pipeline, tmp_path, version):
    from tests.outlet.decoder.exporters import write_pcap

    traffic = write_pcap(tmp_path / "traffic.pcap", flows=60)
    pipeline.inlet()
    pipeline.outlet()
    subprocess.run(
        [
            "softflowd",
            "-r",
            str(tmp_path / "traffic.pcap"),
            "-n",
            f"127.0.0.1:{pipeline.port}",
            "-v",
            version,
            "-d",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    flows = len(traffic.flows)
    # softflowd may split a 5-tuple's records; totals are what must match
    with contextlib.suppress(TimeoutError):  # the assertions below say what is missing
        wait_for(
            lambda: pipeline.query("SELECT sum(Packets) FROM flows")[0][0] >= traffic.packets,
            60,
            "every packet",
            interval=0.5,
        )
    packets, octets, tuples = pipeline.query(
        "SELECT sum(Packets), sum(Bytes), uniqExact(SrcAddr, DstAddr, SrcPort, DstPort, Proto) FROM flows"
    )[0]
    assert (packets, octets) == (traffic.packets, traffic.ip_bytes)
    assert tuples == flows
    assert DecoderKind.NETFLOW  # both versions travel as the netflow kind
