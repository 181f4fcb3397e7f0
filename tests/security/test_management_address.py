"""Operations endpoints bind the management address they are given, and share their port
(SO_REUSEPORT) only when an inlet handover asks for it."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from collector.devservices.base import free_port
from collector.devservices.daemon import Daemon
from collector.httpapi.server import OperationsServer


def _connects(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def _server(listen: str, reuse_port: bool = False) -> OperationsServer:
    server = OperationsServer(
        "test", listen, CollectorRegistry(), lambda: (True, {}), reuse_port=reuse_port
    )
    server.start()
    return server


def test_inlet_endpoint_listens_on_the_management_address_only(kafka_broker):
    port = free_port()
    config = {
        "kafka": {"brokers": [kafka_broker.bootstrap]},
        "inlet": {
            "http": {"listen": f"127.0.0.2:{port}"},
            "inputs": [{"decoder": "netflow", "listen": f"127.0.0.1:{free_port(2)}"}],
        },
    }
    with Daemon("inlet", config) as inlet:
        with urllib.request.urlopen(f"http://127.0.0.2:{port}/api/v0/inlet/healthcheck") as r:
            assert r.status == 200
        assert not _connects("127.0.0.1", port)  # not on every address
    assert "operations endpoint on http://127.0.0.2:" in inlet.log()


def test_a_second_process_cannot_take_the_port_unless_asked():
    port = free_port()
    first = _server(f"127.0.0.1:{port}")
    try:
        with pytest.raises(OSError, match="in use"):
            _server(f"127.0.0.1:{port}", reuse_port=True)  # the first one did not agree
    finally:
        first.stop()
    old = _server(f"127.0.0.1:{port}", reuse_port=True)
    new = _server(f"127.0.0.1:{port}", reuse_port=True)  # the handover: both bound
    for s in (old, new):
        s.stop()


def test_reuse_port_is_an_inlet_setting_off_by_default():
    from collector.config.root import ConfigError, parse_config

    config = parse_config({})
    assert config.inlet.http.reuse_port is False
    assert config.inlet.http.listen.startswith("127.0.0.1:")
    assert config.outlet.http.listen.startswith("127.0.0.1:")
    assert config.enrich.http.listen.startswith("127.0.0.1:")
    assert config.orchestrator.http.listen.startswith("127.0.0.1:")
    with pytest.raises(ConfigError, match="outlet.http.reuse-port: unknown key"):
        parse_config({"outlet": {"http": {"reuse-port": True}}})
