"""A private redis-server (Debian's package) on a free port."""

from __future__ import annotations

import shutil

from collector.devservices.base import Service, free_port, tcp_open, wait_for


class RedisServer(Service):
    name = "redis"

    def __init__(self, port: int | None = None) -> None:
        super().__init__()
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self._spawn(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ]
        )
        wait_for(lambda: tcp_open(self.port), 10, f"redis on {self.port}\n{self.log_tail()}")
        return self
