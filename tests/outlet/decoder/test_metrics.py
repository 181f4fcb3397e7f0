"""The decoder's counters, as Prometheus exposes them, pass `promtool check metrics`."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from collector.metrics.aggregate import Aggregator, exposition, make_registry
from collector.metrics.stats import Stats
from collector.outlet.decoder import METRICS, Decoder, decode_datagrams
from tests.outlet.decoder.helpers import decode_files, netflow_paths


def test_exposition_is_promtool_clean() -> None:
    stats = Stats(METRICS)
    decoder = Decoder(stats)
    decode_files(netflow_paths("data"), decoder)
    decode_datagrams([b"\x00\x07garbage"], "192.0.2.9", decoder)
    aggregator = Aggregator(METRICS)
    aggregator.attach("outlet", stats)
    text = exposition(make_registry(aggregator)).decode()
    assert 'flowweir_outlet_decoder_flows_total{exporter="192.0.2.100",version="9"} 4.0' in text
    assert (
        'flowweir_outlet_decoder_errors_total{exporter="192.0.2.9",kind="unknown_version"} 1.0'
        in text
    )
    assert 'flowweir_outlet_decoder_templates{exporter="192.0.2.100"} 2.0' in text
    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed")
    check = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_malformed_datagrams_are_logged_once_per_exporter_and_kind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    decoder = Decoder()
    caplog.set_level("WARNING", logger="collector.outlet.decoder")
    for _ in range(50):  # 50 flushes of 20 bad datagrams from one exporter, 2 kinds
        decode_datagrams([b"\x00\x07garbage"] * 10 + [b"\x00\x09"] * 10, "192.0.2.9", decoder)
    decode_datagrams([b"\x00\x07garbage"], "192.0.2.10", decoder)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines  # (192.0.2.9, unknown_version), (192.0.2.9, truncated), .10
    assert "exporter 192.0.2.9: 10 datagrams or sets (not NetFlow v5/v9" in "\n".join(lines)
    assert not any(r.exc_info for r in caplog.records)  # a count, never a traceback
