"""Batch UDP reception with recvmmsg(2): up to BATCH datagrams per system call.

Hot path, in C (`_batch.c`, built with the package): each datagram lands in its own
slot of one preallocated buffer, DATAGRAM_HEADER_SIZE bytes after the slot start, so its
v2 datagram header (receive time, length, source port) is written in front of it in
place, and a Kafka message is one copy of a message header and the slots of one
exporter: the datagrams of one receive call are grouped by source address, in arrival
order, at most MAX_MESSAGE_BYTES a message (collector/kafka/envelope.py), the datagrams
LZ4-compressed after the message header when `lz4_acceleration` is set. The kernel
receive timestamp and the socket's drop counter come from control messages; a datagram
without a timestamp gets the clock's time, a truncated one (too large) is counted and
left out. The same in Python cost as much as the kernel's receive work (about 1.2 us a
datagram: bench/README.md, "## inlet"), hence C.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from collector.inlet._batch import Receiver
from collector.kafka.envelope import FLAG_LZ4, MAX_BODY_BYTES, lz4_compressor

BATCH = 64


@dataclass(slots=True)
class Batch:
    """What one recvmmsg call returned, as Kafka messages of one exporter each."""

    messages: list[tuple[bytes, bytes, int]]  # (exporter address, v2 message, datagrams in it)
    datagrams: int  # in the messages (not too large)
    bytes_received: int
    too_large: int
    kernel_drops: int  # the socket's cumulative drop counter, -1 when not reported


class BatchReceiver:
    def __init__(
        self,
        sock: socket.socket,
        max_datagram_size: int,
        kind: int,
        flags: int,
        timestamp_source: int,
        decapsulation: int = 0,
        lz4_acceleration: int = 0,
    ) -> None:
        compress = lz4_compressor(lz4_acceleration) if lz4_acceleration else None
        if compress is not None:
            flags |= FLAG_LZ4
        # The message header's constant fields: version, kind, flags, timestamp source,
        # decapsulation, reserved; the C part adds the count and the exporter address.
        header = bytes((2, int(kind), flags, int(timestamp_source), int(decapsulation), 0))
        self._receiver = Receiver(
            sock.fileno(), max_datagram_size, BATCH, header, MAX_BODY_BYTES, compress
        )
        self._sock = sock  # the file descriptor stays open as long as the receiver

    @property
    def kernel_timestamps(self) -> bool:
        """False once a datagram came without a kernel receive timestamp (then: the clock)."""
        return self._receiver.kernel_timestamps

    def receive(self, wait: bool) -> Batch | None:
        """One recvmmsg call; None when nothing arrived (timeout or non-blocking and empty)."""
        got = self._receiver.receive(wait)
        return None if got is None else Batch(*got)
