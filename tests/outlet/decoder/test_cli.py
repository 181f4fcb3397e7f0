"""`flowweir decode`: what an operator runs to see what an exporter sends."""

from __future__ import annotations

import json
import subprocess
import sys

from collector.cli import main
from tests.outlet.decoder.helpers import SFLOW, netflow_paths


def test_decode_json_in_order(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["decode", *map(str, netflow_paths("data"))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    first = json.loads(lines[0])
    assert first["SrcAddr"] == "198.38.121.178" and first["SamplingRate"] == 30000
    assert first["ExporterAddress"] == "192.0.2.100" and first["DstASPath"] == []
    assert list(first)[:3] == ["TimeReceived", "SamplingRate", "ExporterAddress"]


def test_decode_table(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["decode", "--format", "table", str(SFLOW / "data-1140.pcap")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("\t")[:3] == ["TimeReceived", "ExporterAddress", "SamplingRate"]
    assert any("104.26.8.24\t443\t45.90.161.46\t56876" in line for line in out[1:])
    assert len(out) == 6


def test_errors_are_one_clear_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "collector.cli", "decode", "/nonexistent.pcap"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip() == "flowweir decode: /nonexistent.pcap: No such file or directory"
    missing = subprocess.run(
        [sys.executable, "-m", "collector.cli", "decode", str(netflow_paths("data")[-1])],
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 0 and missing.stdout == ""
    assert "template" in missing.stderr and "Traceback" not in missing.stderr


def test_decode_with_decapsulation(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import dpkt

    from tests.outlet.decoder import frames as f
    from tests.outlet.decoder.test_rules import TUNNELS, V4_TCP

    datagram = f.sflow(
        f.flow_sample([f.raw_header(TUNNELS["gre"][0])]), f.flow_sample([f.raw_header(V4_TCP)])
    )
    packet = f.eth(0x0800, f.ip4("192.0.2.50", "192.0.2.1", 17, f.udp(6343, 6343, datagram)))
    path = tmp_path / "gre.pcap"
    with path.open("wb") as handle:
        dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_EN10MB).writepkt(packet, ts=1.0)
    assert main(["decode", str(path)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert (
        main(["decode", "--decapsulation", "gre", "--columns", "SrcAddr,DstPort", str(path)]) == 0
    )
    out = capsys.readouterr()
    assert [json.loads(line) for line in out.out.splitlines()] == [
        {"SrcAddr": "172.16.0.1", "DstPort": 8443}
    ]
    assert out.err.strip() == "flowweir decode: 1 flows dropped: not gre-encapsulated"
