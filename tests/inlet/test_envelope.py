"""The Kafka envelope: the contract between inlet and outlet."""

from __future__ import annotations

import pytest

from collector.kafka.envelope import (
    DATAGRAM_HEADER_SIZE,
    HEADER_SIZE,
    MESSAGE_HEADER_SIZE,
    REASONS,
    Decapsulation,
    DecoderKind,
    Envelope,
    EnvelopeError,
    TimestampSource,
    address_to_bytes,
    bytes_to_address,
    decode_envelope,
    decode_message,
    encode_message,
    topic_name,
)


def _datagrams(n: int, **kw: object) -> list[Envelope]:
    return [
        Envelope(
            DecoderKind.NETFLOW,
            1_700_000_000_000_000_000 + i * 1_001,
            address_to_bytes("192.0.2.7"),
            2000 + i,
            b"datagram %d" % i * (i + 1),
            version=2,
            **kw,  # type: ignore[arg-type]
        )
        for i in range(n)
    ]


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
        (bytes([2]) + bytes(40), "version", "envelope version 2, expected 1"),
    ],
)
def test_malformed_records_raise_envelope_error_with_a_bounded_reason(record, reason, message):
    with pytest.raises(EnvelopeError, match=message) as info:
        decode_envelope(record)
    assert info.value.reason == reason
    assert reason in REASONS  # a metric label: one of a few constants


def test_topic_carries_the_envelope_version():
    assert topic_name("flows") == "flows-v2"
    assert topic_name("flows", 1) == "flows-v1"


def test_v2_keeps_every_datagram_with_its_own_time_and_port():
    envs = _datagrams(5, flags=3, decapsulation=Decapsulation.VXLAN)
    raw = encode_message(envs)
    assert raw[0] == 2
    assert len(raw) == MESSAGE_HEADER_SIZE + sum(
        DATAGRAM_HEADER_SIZE + len(e.payload) for e in envs
    )
    assert decode_message(raw) == envs


def test_v1_records_still_decode_as_one_datagram():
    env = _datagrams(1)[0]
    v1 = Envelope(env.kind, env.receive_time_ns, env.exporter_address, 9, b"old")
    assert decode_message(v1.encode()) == [v1]


def test_a_v2_message_holds_one_exporter():
    envs = _datagrams(2)
    other = Envelope(DecoderKind.NETFLOW, 1, address_to_bytes("192.0.2.8"), 1, b"x", version=2)
    with pytest.raises(ValueError, match="one exporter"):
        encode_message([*envs, other])


def test_damaged_v2_keeps_the_datagrams_before_the_damage():
    envs = _datagrams(4)
    raw = encode_message(envs)
    cut = len(raw) - len(envs[-1].payload) // 2  # inside the last datagram
    with pytest.raises(EnvelopeError, match="ends inside datagram 4 of 4") as err:
        decode_message(raw[:cut])
    assert err.value.reason == "truncated" and err.value.kept == envs[:3]
    with pytest.raises(EnvelopeError, match="bytes after its 4 datagrams") as err:
        decode_message(raw + b"junk")
    assert err.value.reason == "field" and err.value.kept == envs


@pytest.mark.parametrize(
    "record, reason",
    [
        (None, "tombstone"),
        (b"\x02short", "truncated"),
        (bytes([2, 1, 0, 0, 0, 0, 0, 0]) + bytes(16), "field"),  # no datagram
        (bytes([2, 1, 0, 0, 9, 0, 0, 1]) + bytes(16), "field"),  # unknown decapsulation
        (bytes([2, 1, 0, 0, 0, 0, 0, 2]) + bytes(16) + bytes(12), "truncated"),
        (bytes([3]) + bytes(40), "version"),
    ],
)
def test_malformed_v2_records_are_refused_by_reason(record, reason):
    with pytest.raises(EnvelopeError) as err:
        decode_message(record)
    assert err.value.reason == reason
