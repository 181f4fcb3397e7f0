"""TimeReceived follows the envelope's timestamp source: receive time, packet header, first switched."""

from __future__ import annotations

import struct

import pytest

from collector.kafka.envelope import TimestampSource
from collector.outlet.decoder import decode_datagrams

RECEIVED = 1_800_000_000 * 10**9
HEADER_SECS = 1_700_000_000
UPTIME_MS = 10_000


def _v9() -> bytes:
    fields = [(8, 4), (12, 4), (22, 4), (21, 4), (1, 4)]
    tpl = struct.pack("!HH", 256, len(fields)) + b"".join(struct.pack("!HH", *f) for f in fields)
    rec = bytes([10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack("!III", 4_000, 9_000, 100)
    sets = struct.pack("!HH", 0, 4 + len(tpl)) + tpl + struct.pack("!HH", 256, 4 + len(rec)) + rec
    return struct.pack("!HHIIII", 9, 2, UPTIME_MS, HEADER_SECS, 1, 0) + sets


def _v5() -> bytes:
    rec = struct.pack(
        "!4s4s4sHHIIIIHHBBBBHHBBH", bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), bytes(4), 1, 2,
        1, 100, 4_000, 9_000, 1, 2, 0, 0, 6, 0, 0, 0, 24, 24, 0,
    )  # fmt: skip
    return struct.pack("!HHIIIIBBH", 5, 1, UPTIME_MS, HEADER_SECS, 0, 1, 0, 0, 0x4000 | 100) + rec


@pytest.mark.parametrize("datagram", [_v9(), _v5()], ids=["v9", "v5"])
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (TimestampSource.UDP, RECEIVED // 10**9),
        (TimestampSource.NETFLOW_PACKET, HEADER_SECS),
        (TimestampSource.NETFLOW_FIRST_SWITCHED, HEADER_SECS - 6),  # started 6 s before export
    ],
)
def test_time_received(datagram: bytes, source: TimestampSource, expected: int) -> None:
    batch = decode_datagrams(
        [datagram], "192.0.2.1", receive_time_ns=RECEIVED, timestamp_source=source
    )
    assert batch.columns["TimeReceived"].tolist() == [expected]


def test_v5_header_sampling_rate() -> None:
    assert decode_datagrams([_v5()]).columns["SamplingRate"].tolist() == [100]
