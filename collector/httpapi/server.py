"""The operations endpoint every daemon serves: /api/v0/<service>/metrics and /healthcheck.

The socket uses SO_REUSEPORT so that a new daemon can start beside the old one
during a restart without loss (both answer until the old one exits).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from collector.config.types import parse_hostport

log = logging.getLogger(__name__)

HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]


class _ReusePortServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


class OperationsServer:
    def __init__(
        self,
        service: str,
        listen: str,
        registry: CollectorRegistry,
        health: HealthCheck,
        default_port: int = 8080,
    ) -> None:
        self.service = service
        self.registry = registry
        self.health = health
        host, port = parse_hostport(listen, default_port)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        prefix = f"/api/v0/{service}"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: Any) -> None:  # quiet: no access log
                return

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0].rstrip("/")
                if path == f"{prefix}/metrics":
                    body = generate_latest(outer.registry)
                    self._send(200, CONTENT_TYPE_LATEST, body)
                elif path == f"{prefix}/healthcheck":
                    try:
                        ok, details = outer.health()
                    except Exception as exc:  # a broken check is an unhealthy daemon, not a crash
                        ok, details = False, {"error": str(exc)}
                    body = json.dumps({"service": outer.service, "ok": ok, **details}).encode()
                    self._send(200 if ok else 503, "application/json", body)
                else:
                    self._send(
                        404,
                        "text/plain",
                        f"try {prefix}/metrics or {prefix}/healthcheck\n".encode(),
                    )

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server_cls = type("Server", (_ReusePortServer,), {"address_family": family})
        self.httpd = server_cls((host or "0.0.0.0", port), Handler)
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info(
            "operations endpoint on http://%s:%d/api/v0/%s/",
            *self.httpd.server_address[:2],
            self.service,
        )

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
