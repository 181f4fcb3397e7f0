"""Real exporters: softflowd (NetFlow v9, IPFIX) and pmacctd's sfprobe (sFlow) turn a generated
pcap into datagrams; decoded, they must account for the traffic that went in."""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from collector.metrics.stats import Stats
from collector.outlet.decoder import METRICS, Decoder, decode_datagrams
from tests.outlet.decoder.exporters import Traffic, UdpSink, write_pcap


def _run(cmd: list[str], cwd: Path, sink: UdpSink) -> list[bytes]:
    # softflowd hangs after EOF when given absolute -p/-c paths: run it in `cwd`, names relative
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        datagrams = sink.wait_quiet(quiet=1.0, limit=20)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
    assert datagrams, f"{cmd[0]} sent nothing:\n{out.decode(errors='replace')[-2000:]}"
    return datagrams


def _key(r: dict) -> tuple[str, str, int, int, int]:
    return (r["SrcAddr"], r["DstAddr"], r["SrcPort"], r["DstPort"], r["Proto"])


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Traffic]:
    path = tmp_path_factory.mktemp("pcap") / "traffic.pcap"
    return path, write_pcap(path, flows=60, ipv6=True, replies=True)


def _softflowd(pcap: Path, sink: UdpSink, cwd: Path, *options: str) -> list[bytes]:
    cmd = ["softflowd", "-r", str(pcap), "-n", f"127.0.0.1:{sink.port}", *options, "-d"]
    return _run([*cmd, "-p", "sf.pid", "-c", "sf.ctl"], cwd, sink)


needs_softflowd = pytest.mark.skipif(shutil.which("softflowd") is None, reason="no softflowd")


@needs_softflowd
@pytest.mark.parametrize(
    "options", [["-v", "9"], ["-v", "10"], ["-v", "10", "-b"]], ids=["v9", "ipfix", "ipfix-biflow"]
)
def test_softflowd_totals(
    options: list[str], traffic: tuple[Path, Traffic], tmp_path: Path
) -> None:
    """Every direction of every conversation, with its bytes and packets; with -b (RFC 5103
    biflows) the reverse counters of each record become the flow in the other direction."""
    pcap, sent = traffic
    sink = UdpSink()
    datagrams = _softflowd(pcap, sink, tmp_path, *options)
    stats = Stats(METRICS)
    batch = decode_datagrams(datagrams, "127.0.0.1", Decoder(stats))
    rows = batch.to_rows()
    assert len(rows) == len(sent.flows)
    assert sum(r["Bytes"] for r in rows) == sent.ip_bytes
    assert sum(r["Packets"] for r in rows) == sent.packets
    assert {_key(r): [r["Bytes"], r["Packets"]] for r in rows} == sent.flows
    assert not [k for k in stats.values if k[0] == "flowweir_outlet_decoder_errors"]


@needs_softflowd
@pytest.mark.parametrize("version", ["9", "10"])
def test_softflowd_sampling_rate(
    version: str, traffic: tuple[Path, Traffic], tmp_path: Path
) -> None:
    """softflowd -s 4 samples one packet in 4 and says so in its options data."""
    pcap, sent = traffic
    sink = UdpSink()
    datagrams = _softflowd(pcap, sink, tmp_path, "-v", version, "-s", "4")
    batch = decode_datagrams(datagrams, "127.0.0.1")
    assert set(batch.columns["SamplingRate"].tolist()) == {4}
    packets = int(batch.columns["Packets"].sum())
    assert sent.packets / 4 - 2 <= packets <= sent.packets / 4 + 2
    assert all(_key(r) in sent.flows for r in batch.to_rows())


@pytest.mark.skipif(shutil.which("pmacctd") is None, reason="pmacctd not installed")
def test_pmacctd_sfprobe_totals(traffic: tuple[Path, Traffic], tmp_path: Path) -> None:
    pcap, sent = traffic
    sink = UdpSink()
    conf = tmp_path / "pmacctd.conf"
    conf.write_text(
        "daemonize: false\n"
        f"pcap_savefile: {pcap}\n"
        "plugins: sfprobe\n"
        f"sfprobe_receiver: 127.0.0.1:{sink.port}\n"
        "sfprobe_agentip: 192.0.2.77\n"
        "sampling_rate: 1\n"
    )
    datagrams = _run(["pmacctd", "-f", str(conf)], tmp_path, sink)
    stats = Stats(METRICS)
    rows = decode_datagrams(datagrams, "127.0.0.1", Decoder(stats)).to_rows()
    declared = sum(struct.unpack_from("!I", d, 24)[0] for d in datagrams)  # IPv4 agent
    assert len(rows) == declared  # every sample pmacctd sent is decoded
    assert not [k for k in stats.values if k[0] == "flowweir_outlet_decoder_errors"]
    assert {r["ExporterAddress"] for r in rows} == {"192.0.2.77"}
    assert {r["SamplingRate"] for r in rows} == {1}
    # pmacctd's sfprobe itself skips a few packets of the capture (its sequence numbers are
    # contiguous, so none were lost on the way): every sample is a packet that went in, and
    # almost every packet that went in is there.
    got = Counter(_key(r) for r in rows)
    for key, count in got.items():
        assert key in sent.flows and count <= sent.flows[key][1], key
    assert len(rows) >= 0.98 * sent.packets
    assert sum(r["Packets"] for r in rows) == len(rows)
    # Bytes is the IP packet's length (NetFlow's meaning): each sample is a frame that went
    # in, less its 14-byte Ethernet header (sfprobe's frame length also counts a 4-byte FCS)
    for r in rows:
        assert r["Bytes"] + 14 in sent.frames[_key(r)], r
    assert {r["EType"] for r in rows} == {0x0800, 0x86DD}
