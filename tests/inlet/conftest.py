from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from collector.devservices.base import free_port
from collector.devservices.daemon import Daemon
from collector.devservices.kafka import read_all
from collector.kafka.envelope import Envelope, decode_message


@pytest.fixture
def inlet_factory(kafka_broker) -> Iterator[Callable[..., Daemon]]:
    """Build inlet daemons writing to a fresh topic (2 partitions) on the test broker."""
    daemons: list[Daemon] = []

    def make(
        workers: int = 1,
        port: int | None = None,
        topic: str | None = None,
        start: bool = True,
        prefix: tuple[str, ...] = (),
        **inlet: Any,
    ) -> Daemon:
        topic = topic or f"t{uuid.uuid4().hex[:10]}"
        kafka_broker.create_topic(f"{topic}-v2", partitions=2) if not inlet.pop(
            "no_create", False
        ) else None
        client = inlet.pop("client", "confluent-kafka")
        compression = inlet.pop("compression", "lz4")
        receive_buffer = inlet.pop("receive_buffer", 4 * 1024 * 1024)
        config = {
            "kafka": {
                "brokers": [kafka_broker.bootstrap],
                "topic": topic,
                "client": client,
                "compression": compression,
            },
            "inlet": {
                "inputs": [
                    {
                        "decoder": "netflow",
                        "listen": f"127.0.0.1:{port or free_port(2)}",
                        "workers": workers,
                        "receive-buffer": receive_buffer,
                    }
                ],
                **inlet,
            },
        }
        daemon = Daemon("inlet", config, prefix=prefix)
        daemon.topic = f"{topic}-v2"  # type: ignore[attr-defined]
        daemon.port = int(config["inlet"]["inputs"][0]["listen"].rsplit(":", 1)[1])  # type: ignore[attr-defined]
        daemons.append(daemon)
        return daemon.start() if start else daemon

    yield make
    for d in daemons:
        d.stop()


requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="loading eBPF needs root (CAP_BPF)")


def read_datagrams(
    bootstrap: str, topic: str, expected: int, **kw: Any
) -> list[tuple[Any, Envelope]]:
    """Every datagram of `topic` (envelope v2: several a message) with the message it came in."""
    messages = read_all(
        bootstrap, topic, expected=expected, weight=lambda m: len(decode_message(m.value())), **kw
    )
    return [(m, e) for m in messages for e in decode_message(m.value())]


def payloads(bootstrap: str, topic: str, expected: int, **kw: Any) -> list[bytes]:
    return [e.payload for _, e in read_datagrams(bootstrap, topic, expected, **kw)]
