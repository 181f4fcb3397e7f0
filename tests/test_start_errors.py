"""A daemon that cannot start says why in one line and exits non-zero: no restart loop of
workers that would fail the same way, no traceback, nothing printed while stopping."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

from collector.devservices.base import free_port
from collector.devservices.daemon import Daemon


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    made: list[Daemon] = []
    yield made
    for d in made:
        d.stop()


def run_until_exit(daemons: list[Daemon], service: str, config: dict) -> tuple[int, str]:
    d = Daemon(service, config)
    daemons.append(d)
    d.start(wait=False)
    return d.wait(90), d.log()


def assert_one_clear_line(log: str, message: str) -> None:
    assert message in log, log
    assert "Traceback" not in log and "RuntimeError" not in log, log
    assert "starting a new one" not in log, log  # not restarted every 5 s


def inlet_config(brokers: list[str], workers: int = 2, **kafka: str) -> dict:
    return {
        "kafka": {"brokers": brokers, "topic": f"t{uuid.uuid4().hex[:8]}", **kafka},
        "inlet": {
            "inputs": [
                {"decoder": "netflow", "listen": f"127.0.0.1:{free_port(2)}", "workers": workers}
            ]
        },
    }


def test_inlet_workers_without_a_broker_exit_with_the_reason(daemons):
    # kafka-python-ng refuses to build a producer when no broker answers.
    nobody = f"127.0.0.1:{free_port()}"
    code, log = run_until_exit(
        daemons, "inlet", inlet_config([nobody], workers=2, client="kafka-python-ng")
    )
    assert code == 1
    assert_one_clear_line(
        log,
        f"cannot start: no Kafka broker answered at {nobody} over PLAINTEXT (check kafka.brokers",
    )
    assert log.count("cannot start:") == 2  # one line per worker, each once
    assert "could not start (see above); stopping" in log
    assert "ECONNREFUSED" not in log  # the client library's own error lines stay quiet


def test_operations_port_in_use_is_named_and_stopping_prints_nothing(daemons, kafka_broker):
    with socket.socket() as holder:  # no SO_REUSEPORT: the daemon cannot share the port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        listen = f"127.0.0.1:{holder.getsockname()[1]}"
        config = inlet_config([kafka_broker.bootstrap], workers=1)
        config["inlet"]["http"] = {"listen": listen}
        code, log = run_until_exit(daemons, "inlet", config)
    assert code == 1
    assert_one_clear_line(
        log,
        f"cannot start the inlet: cannot serve the operations endpoint on {listen} "
        "(Address already in use): change inlet.http.listen",
    )


def test_outlet_with_a_redis_url_redis_refuses_exits_with_the_reason(daemons, kafka_broker):
    # The configuration check takes it (host, port and database are fine); redis-py does not.
    url = "redis://127.0.0.1:6379/0?socket_timeout=soon"
    config = {
        "kafka": {"brokers": [kafka_broker.bootstrap], "topic": f"t{uuid.uuid4().hex[:8]}"},
        "redis": {"url": url},
        "outlet": {"workers": 1, "metadata": "none", "template-store": "redis"},
    }
    code, log = run_until_exit(daemons, "outlet", config)
    assert code == 1
    assert_one_clear_line(log, "cannot start: cannot use redis.url: ")
    assert "'socket_timeout'" in log and "fix redis.url" in log
    assert "soon" not in log  # the cause, not the URL (it may hold a password)
