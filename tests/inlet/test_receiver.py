"""The inlet's receive batch: one recvmmsg call, one envelope-v2 message per exporter.

Over loopback, sendto() has queued the datagram in the receiving socket when it returns,
so one non-blocking receive afterwards sees every datagram sent. Each test runs with the
datagrams as they are and LZ4-compressed (what the inlet does with kafka.compression lz4).
"""

from __future__ import annotations

import random
import socket
import struct
import time

import pytest

from collector.inlet.receiver import BatchReceiver
from collector.inlet.udp import SO_TIMESTAMPNS_NEW, open_listener_socket
from collector.kafka.envelope import (
    FLAG_CLOCK_TIMESTAMP,
    FLAG_LZ4,
    MAX_MESSAGE_BYTES,
    Decapsulation,
    DecoderKind,
    TimestampSource,
    address_to_bytes,
    decode_message,
)

SOURCES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
# LZ4 acceleration of the receiver: 0 = not compressed, 5 = the inlet's default.
compressed = pytest.mark.parametrize("acceleration", [0, 5])


def _receiver(max_size: int = 9216, acceleration: int = 0) -> tuple[socket.socket, BatchReceiver]:
    sock = open_listener_socket("127.0.0.1", 0, 8 * 1024 * 1024).sock
    receiver = BatchReceiver(
        sock,
        max_size,
        DecoderKind.SFLOW,
        FLAG_CLOCK_TIMESTAMP,
        TimestampSource.UDP,
        Decapsulation.GRE,
        acceleration,
    )
    return sock, receiver


def _flagged(value: bytes, acceleration: int) -> bool:
    """The message says whether its datagrams are compressed (flag bit 2), as configured."""
    return bool(value[2] & FLAG_LZ4) == bool(acceleration)


# With a too-large datagram the batch takes the datagram-by-datagram path, else the bulk one.
@pytest.mark.parametrize("with_too_large", [True, False])
@pytest.mark.parametrize("count", [20, 60])
@compressed
def test_datagrams_of_several_exporters_in_one_receive_are_split_by_exporter(
    count, with_too_large, acceleration
):
    sock, receiver = _receiver(max_size=1000, acceleration=acceleration)
    port = sock.getsockname()[1]
    senders = []
    for source in SOURCES:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((source, 0))
        senders.append(s)
    sent: dict[str, list[tuple[int, bytes]]] = {s: [] for s in SOURCES}
    start_ns = time.time_ns()
    for i in range(count):
        s = senders[i % len(senders)]
        payload = b"from %d " % i + bytes(i * 7)
        too_large = with_too_large and i == 5
        if too_large:
            payload = bytes(1001)  # too large: counted, not in any message
        s.sendto(payload, ("127.0.0.1", port))
        if not too_large:
            sent[s.getsockname()[0]].append((s.getsockname()[1], payload))
    batch = receiver.receive(False)
    assert batch is not None
    assert batch.too_large == int(with_too_large)
    assert batch.datagrams == count - int(with_too_large)
    assert sorted(key for key, _, _ in batch.messages) == sorted(map(address_to_bytes, SOURCES))
    for key, value, n in batch.messages:
        assert _flagged(value, acceleration)
        envs = decode_message(value)
        assert len(envs) == n
        source = envs[0].exporter
        assert key == address_to_bytes(source)
        # In arrival order, byte-identical, each with its own source port and receive time.
        assert [(e.exporter_port, e.payload) for e in envs] == sent[source]
        assert all(e.kind == DecoderKind.SFLOW and e.clock_timestamp for e in envs)
        assert all(e.decapsulation == Decapsulation.GRE for e in envs)
        assert all(start_ns - 10**9 < e.receive_time_ns < time.time_ns() for e in envs)
    for s in senders:
        s.close()
    sock.close()


@compressed
def test_a_large_batch_of_one_exporter_is_split_at_the_message_size(acceleration):
    sock, receiver = _receiver(max_size=9000, acceleration=acceleration)
    port = sock.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        payloads = [random.Random(i).randbytes(9000) for i in range(64)]  # incompressible
        for p in payloads:
            s.sendto(p, ("127.0.0.1", port))
        batch = receiver.receive(False)
    assert batch is not None and batch.datagrams == 64
    per_message = (MAX_MESSAGE_BYTES - 24) // (12 + 9000)  # 14 datagrams of 9 KB
    assert [n for _, _, n in batch.messages] == [per_message] * (64 // per_message) + [
        64 % per_message
    ]
    # LZ4 adds a few bytes to what it cannot compress: the outlet's limit is on the datagrams.
    limit = MAX_MESSAGE_BYTES + (64 if acceleration else 0)
    assert all(
        len(value) <= limit and _flagged(value, acceleration) for _, value, _ in batch.messages
    )
    got = [e.payload for _, value, _ in batch.messages for e in decode_message(value)]
    assert got == payloads
    sock.close()


@pytest.mark.parametrize("count", [1, 20, 64])  # 20: the struct path, 64: the NumPy one
@compressed
def test_the_datagrams_of_one_exporter_in_one_receive_make_one_message(count, acceleration):
    sock, receiver = _receiver(acceleration=acceleration)
    port = sock.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.2", 0))
        payloads = [b"datagram %d " % i + bytes(i * 20) for i in range(count)]
        start_ns = time.time_ns()
        for p in payloads:
            s.sendto(p, ("127.0.0.1", port))
        batch = receiver.receive(False)
        source_port = s.getsockname()[1]
    assert batch is not None and batch.datagrams == count and batch.too_large == 0
    assert batch.bytes_received == sum(map(len, payloads))
    [(key, value, n)] = batch.messages
    assert key == address_to_bytes("127.0.0.2") and n == count
    assert _flagged(value, acceleration)
    envs = decode_message(value)
    assert [e.payload for e in envs] == payloads
    assert all(e.exporter_port == source_port for e in envs)
    times = [e.receive_time_ns for e in envs]
    assert times == sorted(times) and start_ns - 10**9 < times[0] <= times[-1] < time.time_ns()
    sock.close()


def test_datagrams_without_a_kernel_timestamp_get_the_clock_time():
    sock, receiver = _receiver()
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS_NEW, 0)  # as on a kernel without them
    port = sock.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        before = time.time_ns()
        for i in range(3):
            s.sendto(b"no timestamp %d" % i, ("127.0.0.1", port))
        batch = receiver.receive(False)
        after = time.time_ns()
    assert batch is not None and batch.datagrams == 3
    envs = decode_message(batch.messages[0][1])
    assert [e.payload for e in envs] == [b"no timestamp %d" % i for i in range(3)]
    assert all(before <= e.receive_time_ns <= after for e in envs)
    assert receiver.kernel_timestamps is False  # what the worker reports and logs once
    sock.close()


def test_an_ipv6_socket_keys_messages_by_the_ipv6_and_the_mapped_ipv4_source():
    sock = open_listener_socket("::", 0, 1024 * 1024).sock
    receiver = BatchReceiver(sock, 9216, DecoderKind.NETFLOW, 0, TimestampSource.UDP)
    port = sock.getsockname()[1]
    with (
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s6,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s4,
    ):
        s6.sendto(b"over IPv6", ("::1", port))
        s4.sendto(b"over IPv4", ("127.0.0.1", port))
        batch = receiver.receive(False)
        ports = {"::1": s6.getsockname()[1], "127.0.0.1": s4.getsockname()[1]}
    assert batch is not None and batch.datagrams == 2
    got = {key: decode_message(value) for key, value, _ in batch.messages}
    assert set(got) == {address_to_bytes("::1"), address_to_bytes("127.0.0.1")}
    for address, payload in (("::1", b"over IPv6"), ("127.0.0.1", b"over IPv4")):
        [env] = got[address_to_bytes(address)]
        assert (env.exporter, env.exporter_port, env.payload) == (address, ports[address], payload)
        assert not env.clock_timestamp
    sock.close()


def test_the_sockets_drop_counter_comes_with_the_batch():
    sock, receiver = _receiver()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel's minimum
    port = sock.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(200):  # far more than the buffer holds
            s.sendto(bytes(1000), ("127.0.0.1", port))
        first = receiver.receive(False)
        # The kernel reports the counter with the datagrams it queued after dropping.
        s.sendto(b"after the drops", ("127.0.0.1", port))
        after = receiver.receive(False)
    assert first is not None and 0 < first.datagrams < 200
    assert after is not None and after.datagrams == 1
    assert after.kernel_drops == 200 - first.datagrams
    sock.close()


def test_a_blocking_receive_on_a_quiet_socket_times_out_empty():
    sock, receiver = _receiver()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 50_000))
    started = time.monotonic()
    assert receiver.receive(True) is None
    assert receiver.receive(False) is None
    assert time.monotonic() - started < 5
    sock.close()
