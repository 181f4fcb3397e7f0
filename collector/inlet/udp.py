"""Create the UDP sockets of one listener: SO_REUSEPORT group, receive buffer, timestamps, drops."""

from __future__ import annotations

import contextlib
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SO_RCVBUFFORCE = 33
SO_RXQ_OVFL = 40
SO_TIMESTAMPNS_NEW = 64  # 64-bit struct __kernel_timespec, Linux >= 5.0 (y2038-safe)


@dataclass
class ListenerSocket:
    sock: socket.socket
    family: int
    receive_buffer: int  # bytes the kernel really gave (getsockopt value / 2)
    buffer_capped: bool
    kernel_timestamps: bool


def rmem_max() -> int | None:
    try:
        return int(Path("/proc/sys/net/core/rmem_max").read_text())
    except (OSError, ValueError):
        return None


def _family_for(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def open_listener_socket(host: str, port: int, receive_buffer: int) -> ListenerSocket:
    """One socket of the group; bind order defines the kernel's group order."""
    family = _family_for(host)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; fall back to SO_RCVBUF.
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, receive_buffer)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        # The kernel doubles the value for bookkeeping overhead and reports the doubled size.
        actual = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
        kernel_ts = True
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS_NEW, 1)
        except OSError:
            kernel_ts = False
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return ListenerSocket(sock, family, actual, actual < receive_buffer, kernel_ts)


def open_listener_group(
    host: str, port: int, count: int, receive_buffer: int
) -> list[ListenerSocket]:
    sockets: list[ListenerSocket] = []
    try:
        for _ in range(count):
            sockets.append(open_listener_socket(host, port, receive_buffer))
    except BaseException:
        for s in sockets:
            with contextlib.suppress(OSError):
                s.sock.close()
        raise
    return sockets
