"""Every capture, cross-checked record by record against tshark's decoding (an independent oracle)."""

from __future__ import annotations

import shutil

import pytest

from tests.outlet.decoder.helpers import (
    KEYS,
    NETFLOW_SEQUENCES,
    SFLOW,
    SFLOW_CAPTURES,
    decode_all,
    match_records,
    netflow_paths,
    tshark_records,
)

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

_PORTS = {"nfv5": 9990, "samplingrate": 8096, "icmp": 2100}


@pytest.mark.parametrize("name", sorted(NETFLOW_SEQUENCES))
def test_netflow_capture_matches_tshark(name: str) -> None:
    paths = netflow_paths(name)
    ours = [{k: r[k] for k in KEYS} for r in decode_all(paths).to_rows()]
    theirs = tshark_records(paths, port=_PORTS.get(name, 2055), warm=True)
    assert theirs, "tshark found no flow record: the oracle is broken"
    assert match_records(ours, theirs) == []


@pytest.mark.parametrize("name", SFLOW_CAPTURES)
def test_sflow_capture_matches_tshark(name: str) -> None:
    paths = [SFLOW / f"{name}.pcap"]
    ours = [{k: r[k] for k in KEYS} for r in decode_all(paths).to_rows()]
    theirs = tshark_records(paths)
    assert theirs, "tshark found no flow sample: the oracle is broken"
    assert match_records(ours, theirs) == []
