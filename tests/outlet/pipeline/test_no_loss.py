"""The outlet never loses what Kafka accepted: crash, ClickHouse outage, rebalance."""

from __future__ import annotations

import socket
import threading
import time

from collector.generator.netflow9 import NetFlowV9Exporter

IDENTITY = "uniqExact(SrcAddr, DstAddr, SrcPort, Bytes, Packets)"


class Stream(threading.Thread):
    """NetFlow v9 at a steady rate; every flow is distinct (random bytes and ports)."""

    def __init__(self, port: int, rate: int = 100) -> None:
        super().__init__(daemon=True)
        self.port, self.rate = port, rate
        self.exporter = NetFlowV9Exporter(sampling_interval=100, seed=int(time.time()))
        self.flows: set[tuple[str, int, int, int]] = set()
        self.halt = threading.Event()

    def run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            target = ("127.0.0.1", self.port)
            sock.sendto(self.exporter.templates(), target)
            sent = 0
            start = time.monotonic()
            while not self.halt.is_set():
                data, flows = self.exporter.datagram(10)
                self.flows.update((f.src, f.src_port, f.bytes, f.packets) for f in flows)
                sock.sendto(data, target)
                sent += 1
                if sent % 50 == 0:
                    sock.sendto(self.exporter.templates(), target)
                time.sleep(max(0.0, start + sent / self.rate - time.monotonic()))

    def stop(self) -> int:
        self.halt.set()
        self.join()
        return len(self.flows)


def settle(pipeline, expected: int, timeout: float = 90) -> tuple[int, int]:
    """(distinct flows, rows) once every expected flow is in ClickHouse, or the timeout passed."""
    deadline = time.monotonic() + timeout
    while True:
        distinct, rows = pipeline.query(f"SELECT {IDENTITY}, count() FROM flows")[0]
        if distinct >= expected or time.monotonic() > deadline:
            return int(distinct), int(rows)
        time.sleep(0.5)


def test_sigkill_mid_batch_loses_nothing(pipeline):
    pipeline.inlet()
    outlet = pipeline.outlet(**{"maximum-wait-time": 3})
    stream = Stream(pipeline.port)
    stream.start()
    time.sleep(4)
    outlet.kill_all()  # parent and workers, in the middle of a batch
    time.sleep(2)
    restarted = pipeline.outlet(**{"maximum-wait-time": 3})
    time.sleep(3)
    expected = stream.stop()
    distinct, rows = settle(pipeline, expected)
    assert distinct == expected, f"{expected - distinct} flows lost"
    print(f"SIGKILL: {rows - distinct} duplicates of {distinct} flows (re-read after the crash)")
    assert restarted.healthy()


def test_clickhouse_down_30s_under_load_loses_nothing(pipeline):
    pipeline.inlet()
    outlet = pipeline.outlet(**{"insert-backoff-max": 2})
    stream = Stream(pipeline.port)
    stream.start()
    time.sleep(3)
    pipeline.ch.kill()
    try:
        time.sleep(30)
        assert outlet.healthy()  # the daemon waits, it does not die
        assert outlet.metric_sum("flowweir_outlet_clickhouse_up") == 0
        assert outlet.metric_sum("flowweir_outlet_clickhouse_insert_errors_total") > 0
    finally:
        pipeline.ch.restart()
    time.sleep(3)
    expected = stream.stop()
    distinct, rows = settle(pipeline, expected)
    assert distinct == expected, f"{expected - distinct} flows lost"
    assert rows == distinct  # nothing was committed before ClickHouse acknowledged, nothing twice
    assert "retrying with backoff" in outlet.log() and "Traceback" not in outlet.log()


def test_rebalance_from_one_to_two_outlets_loses_nothing(pipeline):
    pipeline.inlet()
    first = pipeline.outlet()
    stream = Stream(pipeline.port, rate=200)
    stream.start()
    time.sleep(4)
    second = pipeline.outlet()
    time.sleep(8)  # the group rebalances while datagrams keep coming
    expected = stream.stop()
    distinct, rows = settle(pipeline, expected)
    assert distinct == expected, f"{expected - distinct} flows lost"
    print(f"rebalance: {rows - distinct} duplicates of {distinct} flows")
    assert first.metric_sum("flowweir_outlet_kafka_rebalances_total") >= 1
    assert second.metric_sum("flowweir_outlet_kafka_assigned_partitions") >= 1
