"""The operations endpoint every daemon serves: /api/v0/<service>/metrics and /healthcheck.

It binds the management address of `<service>.http.listen` (default 127.0.0.1). The socket
uses SO_REUSEPORT only when `http.reuse-port` asks for it: for an inlet handover, where the
new inlet starts beside the old one on the same port (both answer until the old one exits).
Otherwise a second process binding the same port fails, as it should.
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # SO_REUSEADDR: rebind at once over TIME_WAIT connections


class _ReusePortServer(_Server):
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
        reuse_port: bool = False,
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

        base = _ReusePortServer if reuse_port else _Server
        server_cls = type("Server", (base,), {"address_family": family})
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
        if self._thread.is_alive():  # shutdown() waits forever for a loop that never ran
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        self.httpd.server_close()
