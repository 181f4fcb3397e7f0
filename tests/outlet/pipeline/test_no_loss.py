"""The outlet never loses what Kafka accepted: crash, ClickHouse outage, rebalance."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from collector.devservices.base import wait_for
from collector.generator.netflow9 import NetFlowV9Exporter

IDENTITY = "uniqExact(SrcAddr, DstAddr, SrcPort, Bytes, Packets)"


class Stream(threading.Thread):
    """NetFlow v9 at a steady rate; every flow is distinct (random bytes and ports)."""

    def __init__(self, port: int, rate: int = 100) -> None:
        super().__init__(daemon=True)
        self.port, self.rate = port, rate
        self.exporter = NetFlowV9Exporter(sampling_interval=100, seed=int(time.time()))
        self.flows: set[tuple[str, int, int, int]] = set()
        self.sent = 0
        self.halt = threading.Event()

    def run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            target = ("127.0.0.1", self.port)
            sock.sendto(self.exporter.templates(), target)
            start = time.monotonic()
            while not self.halt.is_set():
                data, flows = self.exporter.datagram(10)
                self.flows.update((f.src, f.src_port, f.bytes, f.packets) for f in flows)
                sock.sendto(data, target)
                self.sent += 1
                if self.sent % 50 == 0:
                    sock.sendto(self.exporter.templates(), target)
                # the pace of the stream, not a wait for something
                time.sleep(max(0.0, start + self.sent / self.rate - time.monotonic()))

    def wait_sent(self, more: int) -> None:
        """Until `more` datagrams more have been sent (time passes under load)."""
        target = self.sent + more
        wait_for(lambda: self.sent >= target, 120, f"{more} more datagrams sent")

    def stop(self) -> int:
        self.halt.set()
        self.join()
        return len(self.flows)


def settle(pipeline, expected: int, timeout: float = 90) -> tuple[int, int]:
    """(distinct flows, rows) once every expected flow is in ClickHouse, or the timeout passed."""

    def counts() -> tuple[int, int]:
        distinct, rows = pipeline.query(f"SELECT {IDENTITY}, count() FROM flows")[0]
        return int(distinct), int(rows)

    with contextlib.suppress(TimeoutError):
        wait_for(lambda: counts()[0] >= expected, timeout, "every flow", interval=0.5)
    return counts()


def committed(outlet, at_least: int = 1) -> None:
    """Until `outlet` committed `at_least` batches (ClickHouse acknowledged them)."""
    wait_for(
        lambda: outlet.metric_sum("flowweir_outlet_kafka_commits_total") >= at_least,
        90,
        f"{at_least} commits\n{outlet.log()}",
        interval=0.2,
    )


def test_sigkill_mid_batch_loses_nothing(pipeline):
    pipeline.inlet()
    outlet = pipeline.outlet(**{"maximum-wait-time": 3})
    stream = Stream(pipeline.port)
    stream.start()
    committed(outlet)
    # A batch is open: records consumed since the last commit (published every 0.5 s, and a
    # batch stays open 3 s, so it still is when the signal lands).
    wait_for(
        lambda: outlet.metric_sum("flowweir_outlet_kafka_uncommitted_records") >= 20,
        30,
        "an open batch",
        interval=0.1,
    )
    outlet.kill_all()  # parent and workers, in the middle of a batch
    stream.wait_sent(100)  # flows keep coming while no outlet runs
    restarted = pipeline.outlet(**{"maximum-wait-time": 3})
    committed(restarted)
    expected = stream.stop()
    distinct, rows = settle(pipeline, expected)
    assert distinct == expected, f"{expected - distinct} flows lost"
    print(f"SIGKILL: {rows - distinct} duplicates of {distinct} flows (re-read after the crash)")
    assert restarted.healthy()


def test_clickhouse_down_under_load_loses_nothing(pipeline):
    pipeline.inlet()
    outlet = pipeline.outlet(**{"insert-backoff-max": 2})
    stream = Stream(pipeline.port)
    stream.start()
    committed(outlet)
    pipeline.ch.kill()
    try:
        # Down long enough for the backoff to reach its maximum (2 s) several times.
        wait_for(
            lambda: outlet.metric_sum("flowweir_outlet_clickhouse_insert_errors_total") >= 8,
            120,
            f"8 failed inserts\n{outlet.log()}",
            interval=0.5,
        )
        stream.wait_sent(1000)  # 10 s of flows at 100 datagrams/s during the outage
        assert outlet.healthy()  # the daemon waits, it does not die
        assert outlet.metric_sum("flowweir_outlet_clickhouse_up") == 0
    finally:
        pipeline.ch.restart()
    wait_for(lambda: outlet.metric_sum("flowweir_outlet_clickhouse_up") == 1, 60, "insert again")
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
    committed(first)
    second = pipeline.outlet()
    # The group rebalances while datagrams keep coming; then flows are committed again (by
    # whichever outlet owns the exporter's partition: one exporter, one key, one partition).
    wait_for(
        lambda: second.metric_sum("flowweir_outlet_kafka_assigned_partitions") >= 1,
        60,
        f"a partition for the second outlet\n{second.log()}",
        interval=0.2,
    )

    def commits() -> float:
        return sum(o.metric_sum("flowweir_outlet_kafka_commits_total") for o in (first, second))

    after_rebalance = commits()
    wait_for(lambda: commits() > after_rebalance, 60, "a commit after the rebalance", 0.2)
    expected = stream.stop()
    distinct, rows = settle(pipeline, expected)
    assert distinct == expected, f"{expected - distinct} flows lost"
    print(f"rebalance: {rows - distinct} duplicates of {distinct} flows")
    assert first.metric_sum("flowweir_outlet_kafka_rebalances_total") >= 1
    assert second.metric_sum("flowweir_outlet_kafka_assigned_partitions") >= 1
