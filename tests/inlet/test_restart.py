"""Restart without loss: a new inlet takes over the port, the old one drains and stops."""

from __future__ import annotations

import socket
import struct
import threading
import time

from collector.devservices.base import wait_for
from collector.devservices.kafka import read_all
from tests.inlet.conftest import requires_root


class SteadySender(threading.Thread):
    """Numbered datagrams at a steady rate from one source port, until stopped."""

    def __init__(self, port: int, rate: int = 2000) -> None:
        super().__init__(daemon=True)
        self.port, self.rate = port, rate
        self.sent = 0
        self.halt = threading.Event()

    def run(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        start = time.perf_counter()
        while not self.halt.is_set():
            sock.sendto(
                b"SEQ" + struct.pack("!I", self.sent) + bytes(200), ("127.0.0.1", self.port)
            )
            self.sent += 1
            delay = start + self.sent / self.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # the pace of the stream, not a wait for something
        sock.close()


@requires_root
def test_restart_under_load_loses_nothing(inlet_factory, kafka_broker):
    old = inlet_factory(workers=2, http={"reuse-port": True})
    sender = SteadySender(old.port)
    sender.start()
    datagrams = "flowweir_inlet_udp_datagrams_total"
    wait_for(lambda: old.metric_sum(datagrams) >= 2000, 30, "the old inlet under load")
    # Same port, same topic, same operations endpoint port: all SO_REUSEPORT (http.reuse-port).
    new = inlet_factory(
        workers=2,
        port=old.port,
        topic=old.topic.removesuffix("-v1"),
        no_create=True,
        start=False,
        http={"listen": old.http, "reuse-port": True},
    )
    new.start(wait=False)
    wait_for(lambda: "inlet started" in new.log(), 60, f"new inlet\n{new.log()}")
    assert "eBPF round-robin over 2 workers attached" in new.log()
    # From now on datagrams go to the new workers (their program replaced the old one's).
    wait_for(lambda: new.metric_sum(datagrams) >= 500, 30, "datagrams reaching the new inlet")
    old.signal(15)
    assert old.wait(30) == 0, old.log()
    alone = new.metric_sum(datagrams) + 2000
    wait_for(lambda: new.metric_sum(datagrams) >= alone, 30, "the new inlet alone")
    sender.halt.set()
    sender.join()
    messages = read_all(kafka_broker.bootstrap, old.topic, expected=sender.sent, idle=5)
    seen = {struct.unpack_from("!I", m.value(), 32 + 3)[0] for m in messages}
    missing = sorted(set(range(sender.sent)) - seen)
    assert not missing, f"{len(missing)} of {sender.sent} datagrams lost, first {missing[:10]}"
    assert sender.sent > 5000
