"""The Kafka envelope: the contract between inlet and outlet."""

from __future__ import annotations

from dataclasses import replace

import lz4.frame
import pytest

from collector.kafka.envelope import (
    DATAGRAM_HEADER_SIZE,
    FLAG_LZ4,
    HEADER_SIZE,
    MAX_MESSAGE_BYTES,
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


def test_compressed_v2_keeps_every_datagram_and_a_readable_header():
    envs = _datagrams(40, flags=3, decapsulation=Decapsulation.VXLAN)
    plain = encode_message(envs)
    raw = encode_message(envs, lz4_acceleration=5)
    assert raw[2] == 3 | FLAG_LZ4 and len(raw) < len(plain)
    assert raw[:MESSAGE_HEADER_SIZE] == plain[:2] + bytes([3 | FLAG_LZ4]) + plain[3:24]
    # A standard LZ4 frame after the header: any LZ4 library reads it.
    assert lz4.frame.decompress(raw[MESSAGE_HEADER_SIZE:]) == plain[MESSAGE_HEADER_SIZE:]
    assert decode_message(raw) == envs  # the flag is the message's, not the datagrams'


def _compressed(body: bytes, count: int = 1) -> bytes:
    header = bytes([2, 1, FLAG_LZ4, 0, 0, 0, 0, count]) + address_to_bytes("192.0.2.7")
    return header + body


def test_a_decompression_bomb_is_refused_without_being_read():
    # 22 MB of zeros in a 90 KB frame: refused once past MAX_MESSAGE_BYTES, never inflated.
    bomb = _compressed(lz4.frame.compress(bytes(22_000_000)), count=3)
    assert len(bomb) < MAX_MESSAGE_BYTES
    with pytest.raises(EnvelopeError, match="decompresses past 131072 bytes") as err:
        decode_message(bomb)
    assert err.value.reason == "oversized" and err.value.kept == []
    # The largest message an inlet writes (MAX_MESSAGE_BYTES before compression) decodes.
    envs = _datagrams(3)
    room = MAX_MESSAGE_BYTES - MESSAGE_HEADER_SIZE - 3 * DATAGRAM_HEADER_SIZE - 120_000
    sizes = (60_000, 60_000, room)
    largest = [replace(e, payload=bytes(size)) for e, size in zip(envs, sizes, strict=True)]
    assert len(encode_message(largest)) == MAX_MESSAGE_BYTES
    assert decode_message(encode_message(largest, lz4_acceleration=1)) == largest


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "cut short"),
        (b"not an lz4 frame at all", "does not decompress"),
        (lz4.frame.compress(bytes(500))[:-6], "cut short"),
        (lz4.frame.compress(bytes(500)) + b"junk", "4 bytes after its LZ4 frame"),
    ],
)
def test_a_corrupt_compressed_message_is_refused_by_reason(body, message):
    with pytest.raises(EnvelopeError, match=message) as err:
        decode_message(_compressed(body))
    assert err.value.reason == "compression" and "compression" in REASONS


def test_a_compressed_message_with_damaged_datagrams_keeps_those_before_the_damage():
    envs = _datagrams(3)
    body = encode_message(envs)[MESSAGE_HEADER_SIZE:]
    cut = len(body) - len(envs[-1].payload) // 2
    with pytest.raises(EnvelopeError, match="ends inside datagram 3 of 3") as err:
        decode_message(_compressed(lz4.frame.compress(body[:cut]), count=3))
    assert err.value.reason == "truncated" and err.value.kept == envs[:2]
