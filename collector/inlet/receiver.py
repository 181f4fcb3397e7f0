"""Batch UDP reception with recvmmsg(2): up to BATCH datagrams per system call.

Hot path. Each datagram lands in its own slot of one preallocated buffer,
DATAGRAM_HEADER_SIZE bytes after the slot start, so its v2 datagram header
(receive time, length, source port) is written in front of it in place
(vectorised with NumPy for a large batch) and a Kafka message is one join of
a message header and the slots of one exporter: the datagrams of one receive
call are grouped by source address, in arrival order, at most MAX_MESSAGE_BYTES
a message (collector/kafka/envelope.py). The kernel receive timestamp and the
socket's drop counter come from control messages, parsed for the whole batch
at once.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import time
from dataclasses import dataclass

import numpy as np

from collector.inlet.udp import SO_RXQ_OVFL, SO_TIMESTAMPNS_NEW
from collector.kafka.envelope import (
    DATAGRAM_HEADER_SIZE,
    MAX_MESSAGE_BYTES,
    MESSAGE_HEADER,
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

SMALL_BATCH = 32  # up to this many datagrams, plain struct calls beat NumPy's per-call overhead
_CMSG_TS = struct.Struct("<qiiqq")  # cmsg_len, level, type, tv_sec, tv_nsec
_CMSG_U32 = struct.Struct("<qiiI")  # cmsg_len, level, type, value
_HDR_TAIL = struct.Struct(
    "<Qi4xI"
)  # msg_controllen, msg_flags, (padding), msg_len: offsets 40, 48, 56
_SUB = struct.Struct(">QH")  # receive time, length: the first 10 bytes of a datagram header
V4_MAPPED = b"\x00" * 10 + b"\xff\xff"
MAX_PAYLOAD = MAX_MESSAGE_BYTES - MESSAGE_HEADER.size  # the datagrams of one message
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

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
    ) -> None:
        self.fd = sock.fileno()
        self.family = sock.family
        self.max_size = max_datagram_size
        # +1 so a datagram of exactly max_size is not reported truncated.
        self.slot = DATAGRAM_HEADER_SIZE + max_datagram_size + 1
        self.data = np.zeros((BATCH, self.slot), dtype=np.uint8)
        self.flat = memoryview(self.data.reshape(-1))  # type: ignore[arg-type]
        self.names = np.zeros((BATCH, NAME_SIZE), dtype=np.uint8)
        self.control = np.zeros((BATCH, CONTROL_SIZE), dtype=np.uint8)
        self.iov = np.zeros(BATCH, dtype=IOVEC)
        self.hdrs = np.zeros(BATCH, dtype=MMSGHDR)
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
        self._hdrs_ptr = ctypes.c_void_p(self.hdrs.ctypes.data)
        # The message header's constant fields: version, kind, flags, timestamp source, decap.
        self._constant = (2, kind, flags, timestamp_source, decapsulation, 0)
        self._pack_header = MESSAGE_HEADER.pack
        self._ipv4 = self.family == socket.AF_INET
        self._hdrs_mv = memoryview(self.hdrs.view(np.uint8))  # type: ignore[arg-type]
        self._ctrl_mv = memoryview(self.control.reshape(-1))  # type: ignore[arg-type]
        self._names_mv = memoryview(self.names.reshape(-1))  # type: ignore[arg-type]
        self._ctrl64 = self.control.view("<i8")  # (BATCH, 8)
        self._ctrl32 = self.control.view("<i4")  # (BATCH, 16)
        self.kernel_timestamps = True
        self.hdrs["namelen"] = NAME_SIZE
        self.hdrs["controllen"] = CONTROL_SIZE
        self._last_n = 0

    def receive(self, wait: bool) -> Batch | None:
        """One recvmmsg call; None when nothing arrived (timeout or non-blocking and empty)."""
        hdrs = self.hdrs
        # The kernel overwrote the lengths of the slots the last call used: reset those only.
        last = self._last_n
        if last > SMALL_BATCH:
            hdrs["namelen"][:last] = NAME_SIZE
            hdrs["controllen"][:last] = CONTROL_SIZE
        else:
            mv = self._hdrs_mv
            for i in range(last):
                _U32.pack_into(mv, i * 64 + 8, NAME_SIZE)
                _U64.pack_into(mv, i * 64 + 40, CONTROL_SIZE)
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
        now_ns = time.time_ns()
        if n <= SMALL_BATCH:
            return self._small(n, now_ns)
        data = self.data
        lens = hdrs["len"][:n]
        ctrl64 = self._ctrl64[:n]
        ctrl32 = self._ctrl32[:n]
        controllen = hdrs["controllen"][:n]
        # First control message: the timestamp when present (the kernel emits it first).
        has_ts = (controllen >= 32) & (ctrl32[:, 3] == SO_TIMESTAMPNS_NEW)
        if has_ts.all():
            ts = ctrl64[:, 2] * 1_000_000_000 + ctrl64[:, 3]
        else:
            self.kernel_timestamps = False
            ts = np.where(has_ts, ctrl64[:, 2] * 1_000_000_000 + ctrl64[:, 3], now_ns)
        data[:n, 0:8] = ts.astype(">u8").view(np.uint8).reshape(n, 8)
        data[:n, 8:10] = lens.astype(">u2").view(np.uint8).reshape(n, 2)
        names = self.names
        data[:n, 10:12] = names[:n, 2:4]  # source port, already in network order
        # Drop counter: a control message after the timestamp, or first when there is none.
        drops = -1
        second = (controllen >= 56) & (ctrl32[:, 11] == SO_RXQ_OVFL)
        first = (controllen >= 24) & (ctrl32[:, 3] == SO_RXQ_OVFL)
        if second.any():
            drops = int(ctrl32[second, 12].max())
        if first.any():
            drops = max(drops, int(ctrl32[first, 4].max()))
        flags = hdrs["flags"][:n]
        truncated = (flags & MSG_TRUNC) != 0
        truncated |= lens > self.max_size
        too_large = int(truncated.sum())
        lengths = lens.tolist()
        keep = (~truncated).tolist() if too_large else None
        messages = self._messages(n, lengths, keep)
        return Batch(messages, n - too_large, int(lens.sum()), too_large, drops)

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
        flat, slot, pack, constant = self.flat, self.slot, self._pack_header, self._constant
        out: list[tuple[bytes, bytes, int]] = []
        for key, indices in groups.items():
            parts: list[memoryview | bytes] = [b""]
            size = 0
            for i in indices:
                if keep is not None and not keep[i]:
                    continue
                length = DATAGRAM_HEADER_SIZE + lengths[i]
                if size + length > MAX_PAYLOAD and len(parts) > 1:
                    parts[0] = pack(*constant, len(parts) - 1, key)
                    out.append((key, b"".join(parts), len(parts) - 1))
                    parts = [b""]
                    size = 0
                start = i * slot
                parts.append(flat[start : start + length])
                size += length
            if len(parts) > 1:
                parts[0] = pack(*constant, len(parts) - 1, key)
                out.append((key, b"".join(parts), len(parts) - 1))
        return out

    def _small(self, n: int, now_ns: int) -> Batch:
        """The same as the NumPy path, datagram by datagram (cheaper for a handful)."""
        hdrs, ctrl, names, flat = self._hdrs_mv, self._ctrl_mv, self._names_mv, self.flat
        slot = self.slot
        lengths: list[int] = []
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
        messages = self._messages(n, lengths, keep)
        return Batch(messages, n - too_large, total, too_large, drops)
