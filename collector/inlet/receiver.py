"""Batch UDP reception with recvmmsg(2): up to BATCH datagrams per system call.

Hot path. Each datagram lands in its own slot of one preallocated buffer,
DATAGRAM_HEADER_SIZE bytes after the slot start, so its v2 datagram header
(receive time, length, source port) is written in front of it in place
(a few NumPy calls over the whole batch, or struct calls for small batches; no
Python loop per datagram in the usual case) and a Kafka message is one join of
a message header and the slots of one exporter: the datagrams of one receive
call are grouped by source address, in arrival order, at most MAX_MESSAGE_BYTES
a message (collector/kafka/envelope.py), the datagrams LZ4-compressed after the
message header when `lz4_acceleration` is set. The kernel receive timestamp and the
socket's drop counter come from control messages, parsed for the whole batch
at once.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import time
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from itertools import accumulate, repeat
from operator import add, mul

import numpy as np

from collector.inlet.udp import SO_RXQ_OVFL, SO_TIMESTAMPNS_NEW
from collector.kafka.envelope import (
    DATAGRAM_HEADER,
    DATAGRAM_HEADER_SIZE,
    FLAG_LZ4,
    MAX_BODY_BYTES,
    MESSAGE_HEADER,
    lz4_compressor,
)

BATCH = 64
CONTROL_SIZE = 64  # CMSG_SPACE(16) timestamp + CMSG_SPACE(4) drop counter = 56
NAME_SIZE = 32  # sockaddr_in6 is 28 bytes
MSG_WAITFORONE = 0x10000
MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20
SOL_SOCKET = 1

# struct mmsghdr on LP64 Linux: struct msghdr (56 bytes) + unsigned int msg_len, padded to 64.
MMSGHDR = np.dtype(
    {
        "names": ["name", "namelen", "iov", "iovlen", "control", "controllen", "flags", "len"],
        "formats": ["<u8", "<u4", "<u8", "<u8", "<u8", "<u8", "<i4", "<u4"],
        "offsets": [0, 8, 16, 24, 32, 40, 48, 56],
        "itemsize": 64,
    }
)
IOVEC = np.dtype({"names": ["base", "len"], "formats": ["<u8", "<u8"], "itemsize": 16})

_CMSG_TS = struct.Struct("<qiiqq")  # cmsg_len, level, type, tv_sec, tv_nsec
_CMSG_U32 = struct.Struct("<qiiI")  # cmsg_len, level, type, value
_HDR_TAIL = struct.Struct(
    "<Qi4xI"
)  # msg_controllen, msg_flags, (padding), msg_len: offsets 40, 48, 56
_SUB = struct.Struct(">QH")  # receive time, length: the first 10 bytes of a datagram header
# Field views for the whole batch at once: a datagram's control messages (the timestamp's
# type, seconds, nanoseconds; the drop counter's value), its source port (sockaddr_in and
# sockaddr_in6 alike), and the 12-byte v2 datagram header at the start of its slot.
CONTROL = np.dtype(
    {
        "names": ["type", "sec", "nsec", "drops"],
        "formats": ["<i4", "<i8", "<i8", "<u4"],
        "offsets": [12, 16, 24, 48],
        "itemsize": CONTROL_SIZE,
    }
)
SOURCE_PORT = np.dtype(
    {"names": ["port"], "formats": [">u2"], "offsets": [2], "itemsize": NAME_SIZE}
)
# A NumPy call costs about as much as a few datagrams' worth of struct work: batches of at
# least this many take the NumPy views (0.2 us a datagram less at 60), smaller ones one
# struct unpack each of their headers, control messages and ports.
NUMPY_FROM = 32
_HDR_ENTRY = "40xQi4xI4x"  # msg_controllen, msg_flags, msg_len of an mmsghdr
_CTRL_ENTRY = "12xiqq12xiI12x"  # timestamp type, seconds, nanoseconds; drops type, value
_PORT_ENTRY = "2xH28x"  # the source port
BULK_SIZES = (4, 8, 16, 24, NUMPY_FROM)
_DGRAM_HEADER = DATAGRAM_HEADER
V4_MAPPED = b"\x00" * 10 + b"\xff\xff"
MAX_PAYLOAD = MAX_BODY_BYTES  # the datagrams of one message (before compression)

_libc = ctypes.CDLL(None, use_errno=True)
_recvmmsg = _libc.recvmmsg
_recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
_recvmmsg.restype = ctypes.c_int


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
        self.fd = sock.fileno()
        self.family = sock.family
        self.max_size = max_datagram_size
        # +1 so a datagram of exactly max_size is not reported truncated.
        self.slot = DATAGRAM_HEADER_SIZE + max_datagram_size + 1
        self.data = np.zeros((BATCH, self.slot), dtype=np.uint8)
        self.flat = memoryview(self.data.reshape(-1))  # type: ignore[arg-type]
        # One buffer for the headers, the control messages and the addresses, so that one
        # memmove from a pristine copy before each call resets what the kernel overwrote
        # (msg_controllen, msg_flags) and zeroes the control messages: a control message
        # type read afterwards is never a stale one from an earlier call.
        hdr_bytes, ctrl_bytes = BATCH * MMSGHDR.itemsize, BATCH * CONTROL_SIZE
        self._arena = np.zeros(hdr_bytes + ctrl_bytes + BATCH * NAME_SIZE, dtype=np.uint8)
        self.hdrs = self._arena[:hdr_bytes].view(MMSGHDR)
        self.control = self._arena[hdr_bytes : hdr_bytes + ctrl_bytes].reshape(BATCH, CONTROL_SIZE)
        self.names = self._arena[hdr_bytes + ctrl_bytes :].reshape(BATCH, NAME_SIZE)
        self.iov = np.zeros(BATCH, dtype=IOVEC)
        data_addr = self.data.ctypes.data
        self.iov["base"] = (
            data_addr + np.arange(BATCH, dtype=np.uint64) * self.slot + DATAGRAM_HEADER_SIZE
        )
        self.iov["len"] = self.slot - DATAGRAM_HEADER_SIZE
        self.hdrs["name"] = self.names.ctypes.data + np.arange(BATCH, dtype=np.uint64) * NAME_SIZE
        self.hdrs["iov"] = self.iov.ctypes.data + np.arange(BATCH, dtype=np.uint64) * IOVEC.itemsize
        self.hdrs["iovlen"] = 1
        self.hdrs["control"] = (
            self.control.ctypes.data + np.arange(BATCH, dtype=np.uint64) * CONTROL_SIZE
        )
        self.hdrs["namelen"] = NAME_SIZE
        self.hdrs["controllen"] = CONTROL_SIZE
        self._pristine = self._arena[: hdr_bytes + ctrl_bytes].copy()
        self._reset = (self._arena.ctypes.data, self._pristine.ctypes.data, hdr_bytes + ctrl_bytes)
        self._hdrs_ptr = ctypes.c_void_p(self.hdrs.ctypes.data)
        # The message header's constant fields: version, kind, flags, timestamp source, decap.
        self._compress = lz4_compressor(lz4_acceleration) if lz4_acceleration else None
        if self._compress is not None:
            flags |= FLAG_LZ4
        self._constant = (2, kind, flags, timestamp_source, decapsulation, 0)
        self._pack_header = MESSAGE_HEADER.pack
        self._ipv4 = self.family == socket.AF_INET
        self._hdrs_mv = memoryview(self.hdrs.view(np.uint8))  # type: ignore[arg-type]
        self._ctrl_mv = memoryview(self.control.reshape(-1))  # type: ignore[arg-type]
        self._names_mv = memoryview(self.names.reshape(-1))  # type: ignore[arg-type]
        self._starts = [i * self.slot for i in range(BATCH)]
        self._head_starts = [start + DATAGRAM_HEADER_SIZE for start in self._starts]
        control = self.control.reshape(-1).view(CONTROL)
        self._ts_type, self._ts_sec, self._ts_nsec = (
            control["type"],
            control["sec"],
            control["nsec"],
        )
        self._drops = control["drops"]
        self._ports = self.names.reshape(-1).view(SOURCE_PORT)["port"]
        self._msg_flags, self._msg_len = self.hdrs["flags"], self.hdrs["len"]
        slot_header = np.dtype(
            {
                "names": ["time", "length", "port"],
                "formats": [">u8", ">u2", ">u2"],
                "offsets": [0, 8, 10],
                "itemsize": self.slot,
            }
        )
        heads = self.data.reshape(-1).view(slot_header)
        self._head_time, self._head_length = heads["time"], heads["length"]
        self._head_port = heads["port"]
        # Structs for a few batch sizes only: a batch of n unpacks the smallest that fits.
        buckets = {
            k: (
                struct.Struct("<" + _HDR_ENTRY * k),
                struct.Struct("<" + _CTRL_ENTRY * k),
                struct.Struct(">" + _PORT_ENTRY * k),
            )
            for k in BULK_SIZES
        }
        self._bulk_structs = [
            buckets[min(k for k in BULK_SIZES if k >= n)] for n in range(NUMPY_FROM)
        ]
        self.kernel_timestamps = True
        self._last_n = 0

    def receive(self, wait: bool) -> Batch | None:
        """One recvmmsg call; None when nothing arrived (timeout or non-blocking and empty)."""
        if self._last_n:
            ctypes.memmove(*self._reset)
        n = _recvmmsg(
            self.fd, self._hdrs_ptr, BATCH, MSG_WAITFORONE if wait else MSG_DONTWAIT, None
        )
        if n <= 0:
            err = ctypes.get_errno()
            if n < 0 and err not in (11, 4):  # EAGAIN (timeout), EINTR (signal)
                raise OSError(err, os.strerror(err))
            self._last_n = 0
            return None
        self._last_n = n
        return self._bulk(n)

    def _sources(self, n: int) -> tuple[bytes, int]:
        """The source addresses of the first n datagrams, concatenated, and the width of one."""
        if self._ipv4:
            return self.names[:n, 4:8].tobytes(), 4
        return self.names[:n, 8:24].tobytes(), 16

    def _messages(
        self, n: int, lengths: list[int], keep: list[bool] | None
    ) -> list[tuple[bytes, bytes, int]]:
        """Group the datagrams by source address, in arrival order, into v2 messages."""
        sources, width = self._sources(n)
        prefix = V4_MAPPED if self._ipv4 else b""
        groups: dict[bytes, list[int]]
        if sources == sources[:width] * n:  # one exporter: the usual case
            groups = {prefix + sources[:width]: list(range(n))}
        else:
            groups = {}
            for i in range(n):
                key = prefix + sources[i * width : (i + 1) * width]
                group = groups.get(key)
                if group is None:
                    groups[key] = [i]
                else:
                    group.append(i)
        flat, slot, value = self.flat, self.slot, self._value
        out: list[tuple[bytes, bytes, int]] = []
        for key, indices in groups.items():
            parts: list[memoryview | bytes] = [b""]
            size = 0
            for i in indices:
                if keep is not None and not keep[i]:
                    continue
                length = DATAGRAM_HEADER_SIZE + lengths[i]
                if size + length > MAX_PAYLOAD and len(parts) > 1:
                    out.append((key, value(key, parts), len(parts) - 1))
                    parts = [b""]
                    size = 0
                start = i * slot
                parts.append(flat[start : start + length])
                size += length
            if len(parts) > 1:
                out.append((key, value(key, parts), len(parts) - 1))
        return out

    def _value(self, key: bytes, parts: list[memoryview | bytes]) -> bytes:
        """The v2 message of `parts` (parts[0] a placeholder for its header, then a datagram
        header and datagram each)."""
        header = self._pack_header(*self._constant, len(parts) - 1, key)
        if self._compress is None:
            parts[0] = header
            return b"".join(parts)
        parts[0] = b""
        return header + self._compress(b"".join(parts))

    def _bulk(self, n: int) -> Batch:
        """The batch in a few calls over the whole batch, no Python loop per datagram;
        anything unusual (no kernel timestamp, truncation) goes to _small."""
        heads = self._heads_numpy(n) if n >= NUMPY_FROM else self._heads_struct(n)
        if heads is None:
            return self._small(n, time.time_ns())
        lengths, drops = heads
        flat = self.flat
        starts = self._starts
        total = sum(lengths)
        sources, width = self._sources(n)
        if sources == sources[:width] * n:  # one exporter: the usual case
            key = V4_MAPPED + sources[:width] if self._ipv4 else sources[:width]
            ends = list(map(add, self._head_starts, lengths))
            parts: list[memoryview | bytes] = list(map(flat.__getitem__, map(slice, starts, ends)))
            if total + DATAGRAM_HEADER_SIZE * n <= MAX_PAYLOAD:  # one message
                parts.insert(0, b"")
                return Batch([(key, self._value(key, parts), n)], n, total, 0, drops)
            return Batch(self._split(key, parts, lengths), n, total, 0, drops)
        return Batch(self._messages(n, lengths, None), n, total, 0, drops)

    def _heads_numpy(self, n: int) -> tuple[list[int], int] | None:
        """Write the v2 datagram headers in place with NumPy field views of the headers,
        control messages and addresses; the lengths and the drop counter (None: unusual)."""
        lens = self._msg_len[:n]
        if (
            (self._ts_type[:n] != SO_TIMESTAMPNS_NEW).any()
            or self._msg_flags[:n].any()
            or lens.max() > self.max_size
        ):
            return None
        self._head_time[:n] = self._ts_sec[:n] * 1_000_000_000 + self._ts_nsec[:n]
        self._head_length[:n] = lens
        self._head_port[:n] = self._ports[:n]
        return lens.tolist(), int(self._drops[:n].max()) or -1  # drops: zeroed until the first

    def _heads_struct(self, n: int) -> tuple[list[int], int] | None:
        """The same as _heads_numpy with one struct unpack each (cheaper for small batches)."""
        hdr_struct, ctrl_struct, port_struct = self._bulk_structs[n]
        hdr = hdr_struct.unpack_from(self._hdrs_mv)
        ctrl = ctrl_struct.unpack_from(self._ctrl_mv)
        h, c = 3 * n, 5 * n
        lengths = list(hdr[2:h:3])
        if (
            ctrl[0:c:5].count(SO_TIMESTAMPNS_NEW) != n
            or any(hdr[1:h:3])
            or max(lengths) > self.max_size
        ):
            return None
        times = list(map(add, map(mul, ctrl[1:c:5], repeat(1_000_000_000, n)), ctrl[2:c:5]))
        ports = port_struct.unpack_from(self._names_mv)
        flat, starts = self.flat, self._starts
        deque(map(_DGRAM_HEADER.pack_into, repeat(flat, n), starts, times, lengths, ports), 0)
        return lengths, max(ctrl[4:c:5]) or -1

    def _split(
        self, key: bytes, parts: list[memoryview | bytes], lengths: list[int]
    ) -> list[tuple[bytes, bytes, int]]:
        """The datagrams of one exporter as messages of at most MAX_PAYLOAD, in order (what
        _messages does, with one bisect a message instead of a test a datagram)."""
        ends = list(accumulate(map(add, lengths, repeat(DATAGRAM_HEADER_SIZE))))
        out: list[tuple[bytes, bytes, int]] = []
        start, n = 0, len(parts)
        while start < n:
            before = ends[start - 1] if start else 0
            stop = max(bisect_right(ends, before + MAX_PAYLOAD, start), start + 1)
            out.append((key, self._value(key, [b"", *parts[start:stop]]), stop - start))
            start = stop
        return out

    def _small(self, n: int, now_ns: int) -> Batch:
        """The same as _bulk, datagram by datagram: for a batch with a datagram that came
        without a kernel timestamp or was truncated (too large)."""
        hdrs, ctrl, names, flat = self._hdrs_mv, self._ctrl_mv, self._names_mv, self.flat
        slot = self.slot
        lengths: list[int] = []
        parts: list[memoryview | bytes] = [b""]
        keep: list[bool] | None = None
        total = too_large = 0
        drops = -1
        for i in range(n):
            controllen, flags, length = _HDR_TAIL.unpack_from(hdrs, i * 64 + 40)
            total += length
            lengths.append(length)
            c = i * CONTROL_SIZE
            _, _, kind, sec, nsec = _CMSG_TS.unpack_from(ctrl, c)
            if controllen >= 32 and kind == SO_TIMESTAMPNS_NEW:
                ts = sec * 1_000_000_000 + nsec
                if controllen >= 56:
                    _, _, kind2, value = _CMSG_U32.unpack_from(ctrl, c + 32)
                    if kind2 == SO_RXQ_OVFL:
                        drops = max(drops, value)
            else:
                self.kernel_timestamps = False
                ts = now_ns
                if controllen >= 24:
                    _, _, kind1, value = _CMSG_U32.unpack_from(ctrl, c)
                    if kind1 == SO_RXQ_OVFL:
                        drops = max(drops, value)
            if flags & MSG_TRUNC or length > self.max_size:
                too_large += 1
                if keep is None:
                    keep = [True] * n
                keep[i] = False
                continue
            start = i * slot
            _SUB.pack_into(flat, start, ts, length)
            a = i * NAME_SIZE
            flat[start + 10 : start + 12] = names[a + 2 : a + 4]
            parts.append(flat[start : start + DATAGRAM_HEADER_SIZE + length])
        if keep is None and total + DATAGRAM_HEADER_SIZE * n <= MAX_PAYLOAD:
            sources, width = self._sources(n)
            if sources == sources[:width] * n:  # one exporter, one message
                key = V4_MAPPED + sources[:width] if self._ipv4 else sources[:width]
                return Batch([(key, self._value(key, parts), n)], n, total, 0, drops)
        messages = self._messages(n, lengths, keep)
        return Batch(messages, n - too_large, total, too_large, drops)
