"""The Kafka envelope: the contract between inlet and outlet."""

from __future__ import annotations

import pytest

from collector.kafka.envelope import (
    HEADER_SIZE,
    REASONS,
    DecoderKind,
    Envelope,
    EnvelopeError,
    TimestampSource,
    address_to_bytes,
    bytes_to_address,
    decode_envelope,
    topic_name,
)


def test_round_trip_keeps_every_field():
    env = Envelope(
        DecoderKind.SFLOW,
        1_700_000_000_123_456_789,
        address_to_bytes("2001:db8::1"),
        6343,
        b"\x00\x00\x00\x05payload",
        flags=1,
        timestamp_source=TimestampSource.NETFLOW_PACKET,
    )
    raw = env.encode()
    assert len(raw) == HEADER_SIZE + len(env.payload)
    assert decode_envelope(raw) == env
    assert decode_envelope(raw).use_src_addr


def test_ipv4_is_mapped_and_shown_as_ipv4():
    raw = address_to_bytes("192.0.2.1")
    assert raw == bytes(10) + b"\xff\xff" + bytes([192, 0, 2, 1])
    assert bytes_to_address(raw) == "192.0.2.1"


VALID = Envelope(DecoderKind.NETFLOW, 1, address_to_bytes("192.0.2.1"), 2055, b"x").encode()


@pytest.mark.parametrize(
    "record, reason, message",
    [
        (None, "tombstone", "tombstone"),  # a Kafka record without a value
        (b"", "truncated", "0 bytes is shorter than"),
        (VALID[:20], "truncated", "20 bytes is shorter than"),
        (bytes([9]) + bytes(40), "version", "envelope version 9"),
        (bytes([1, 7]) + bytes(40), "field", "7"),
        ("text", "field", "str, not bytes"),
    ],
)
def test_malformed_records_raise_envelope_error_with_a_bounded_reason(record, reason, message):
    with pytest.raises(EnvelopeError, match=message) as info:
        decode_envelope(record)
    assert info.value.reason == reason
    assert reason in REASONS  # a metric label: one of a few constants


def test_topic_carries_the_envelope_version():
    assert topic_name("flows") == "flows-v1"
