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
