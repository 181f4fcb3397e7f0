"""The reference receiver: the cheapest Python can read a UDP socket (recv_into in a loop)."""

from __future__ import annotations

import signal
import socket
import sys


def main() -> None:
    port, rcvbuf = int(sys.argv[1]), int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE, as the inlet does
    sock.bind(("127.0.0.1", port))
    buf = bytearray(65536)
    count = 0
    signal.signal(signal.SIGTERM, lambda *_: (print(count, flush=True), sys.exit(0)))
    print("ready", flush=True)
    recv_into = sock.recv_into
    while True:
        recv_into(buf)
        count += 1


if __name__ == "__main__":
    main()
