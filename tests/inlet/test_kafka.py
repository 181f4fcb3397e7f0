"""The inlet daemon against a real Kafka-protocol broker: what goes in comes out, wrapped."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.devservices.base import wait_for
from collector.generator.netflow9 import NetFlowV9Exporter
from collector.kafka.envelope import FLAG_LZ4, DecoderKind
from tests.inlet.conftest import payloads as read_payloads
from tests.inlet.conftest import read_datagrams
from tests.promtool import assert_clean_for_promtool


def send(port: int, payloads: list[bytes]) -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    for p in payloads:
        sock.sendto(p, ("127.0.0.1", port))
    return sock, sock.getsockname()[1]


@pytest.mark.parametrize("client", ["confluent-kafka", "kafka-python-ng"])
def test_datagrams_arrive_byte_identical_with_envelope(inlet_factory, kafka_broker, client):
    inlet = inlet_factory(workers=2, client=client)
    exporter = NetFlowV9Exporter()
    payloads = [exporter.templates()] + [exporter.datagram()[0] for _ in range(199)]
    sent_ns = time.time_ns()
    sock, src_port = send(inlet.port, payloads)
    datagrams = read_datagrams(kafka_broker.bootstrap, inlet.topic, expected=len(payloads))
    sock.close()
    assert sorted(e.payload for _, e in datagrams) == sorted(payloads)  # byte-identical, none lost
    messages = {id(m): m for m, _ in datagrams}
    assert len(messages) < len(payloads)  # several datagrams a Kafka message (envelope v2)
    times = []
    for msg, env in datagrams:
        # kafka.compression lz4 (the default): the inlet compressed the datagrams itself.
        assert msg.value()[2] & FLAG_LZ4
        assert env.version == 2 and env.kind == DecoderKind.NETFLOW
        assert env.exporter == "127.0.0.1" and env.exporter_port == src_port
        assert not env.clock_timestamp  # the kernel gave the timestamp
        assert abs(env.receive_time_ns - sent_ns) < 1_000_000_000
        assert msg.key() == env.exporter_address  # keyed by exporter: one exporter, one partition
        times.append(env.receive_time_ns)
    assert len(set(times)) > len(messages)  # each datagram its own receive time
    assert inlet.wait_metric("flowweir_inlet_udp_datagrams_total", len(payloads)) == len(payloads)
    assert inlet.wait_metric(
        "flowweir_inlet_udp_exporter_datagrams_total", len(payloads), exporter="127.0.0.1"
    ) == len(payloads)


@pytest.mark.parametrize(
    "compression, acceleration, client",
    [("zstd", 5, "confluent-kafka"), ("lz4", 0, "confluent-kafka"), ("none", 5, "kafka-python-ng")],
)
def test_other_codecs_and_lz4_acceleration_0_leave_compression_to_the_kafka_client(
    inlet_factory, kafka_broker, compression, acceleration, client
):
    inlet = inlet_factory(
        workers=1, client=client, compression=compression, **{"lz4-acceleration": acceleration}
    )
    payloads = [b"datagram %d" % i for i in range(20)]
    sock, _ = send(inlet.port, payloads)
    datagrams = read_datagrams(kafka_broker.bootstrap, inlet.topic, expected=len(payloads))
    sock.close()
    assert sorted(e.payload for _, e in datagrams) == sorted(payloads)
    assert not any(msg.value()[2] & FLAG_LZ4 for msg, _ in datagrams)


def test_oversized_datagram_is_counted_and_the_rest_flows(inlet_factory, kafka_broker):
    inlet = inlet_factory(workers=1, **{"max-datagram-size": 1000})
    sock, _ = send(inlet.port, [b"a" * 500, b"b" * 1500, b"c" * 999])
    got = read_payloads(kafka_broker.bootstrap, inlet.topic, expected=2)
    sock.close()
    assert sorted(got) == [b"a" * 500, b"c" * 999]
    assert inlet.wait_metric("flowweir_inlet_udp_drops_total", 1, reason="too_large") == 1


def test_sigterm_flushes_everything_received(inlet_factory, kafka_broker):
    inlet = inlet_factory(workers=2)
    exporter = NetFlowV9Exporter()
    payloads = [exporter.datagram()[0] for _ in range(3000)]
    sock, _ = send(inlet.port, payloads)
    inlet.signal(
        signal.SIGTERM
    )  # at once: part is still in the socket buffers and the producer queue
    assert inlet.wait(30) == 0, inlet.log()
    got = read_payloads(kafka_broker.bootstrap, inlet.topic, expected=len(payloads))
    sock.close()
    assert sorted(got) == sorted(payloads)
    assert "inlet stopped" in inlet.log()


def test_metrics_endpoint_is_clean_for_promtool(inlet_factory):
    inlet = inlet_factory(workers=2)
    sock, _ = send(inlet.port, [b"x" * 100] * 10)
    assert inlet.wait_metric("flowweir_inlet_udp_datagrams_total", 10) == 10
    text = inlet.metrics_text()
    sock.close()
    assert "flowweir_inlet_udp_datagrams_total" in text
    assert_clean_for_promtool(text)


def test_receive_buffer_is_read_back(inlet_factory):
    inlet = inlet_factory(workers=2, receive_buffer=8 * 1024 * 1024)
    # As root the inlet uses SO_RCVBUFFORCE, so it gets what it asked for, beyond rmem_max.
    assert (
        inlet.metric_sum("flowweir_inlet_udp_receive_buffer_bytes", worker="0") == 8 * 1024 * 1024
    )
    assert "receive buffer capped" not in inlet.log()
    # batch-wait (default 5 ms) needs 4 MiB a ms: 8 MiB shortens it to 2 ms, and says so.
    shortened = "batch-wait 2 ms instead of 5"
    wait_for(lambda: inlet.log().count(shortened) == 2, 10, "both workers' batch-wait line")


@pytest.mark.skipif(not shutil.which("setpriv"), reason="setpriv (util-linux) drops capabilities")
def test_receive_buffer_capped_without_cap_net_admin_warns(inlet_factory):
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    # Without CAP_NET_ADMIN, SO_RCVBUFFORCE is refused and the kernel caps SO_RCVBUF at rmem_max.
    inlet = inlet_factory(
        workers=1,
        receive_buffer=rmem_max * 4,
        ebpf=False,
        prefix=("setpriv", "--bounding-set=-net_admin", "--inh-caps=-net_admin"),
    )
    assert inlet.metric_sum("flowweir_inlet_udp_receive_buffer_bytes", worker="0") == rmem_max
    assert f"raise net.core.rmem_max (now {rmem_max})" in inlet.log()


def test_a_dead_worker_is_replaced_and_its_share_keeps_flowing(inlet_factory, kafka_broker):
    from collector.devservices.procstat import worker_pids

    inlet = inlet_factory(workers=2)
    workers = worker_pids(inlet.proc.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    assert inlet.wait_metric("flowweir_inlet_workers_restarts_total", 1, timeout=20) == 1, (
        inlet.log()
    )
    wait_for(inlet.healthy, 30, f"inlet healthy again\n{inlet.log()}")
    assert "exited (code -9); starting a new one" in inlet.log()
    sock, _ = send(inlet.port, [b"after-restart-%d" % i for i in range(400)])
    got = read_payloads(kafka_broker.bootstrap, inlet.topic, expected=400)
    sock.close()
    assert len(got) == 400  # the new worker's socket took the dead one's place in the eBPF map


def socket_backlog(port: int) -> int:
    """Bytes waiting in the receive queue of the UDP socket bound to `port` (/proc/net/udp)."""
    total = 0
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            total += int(fields[4].split(":")[1], 16)  # tx_queue:rx_queue
    return total


def worker_blocked(port: int, settle: float = 0.3) -> bool:
    """Datagrams wait in the socket and the worker reads none of them for `settle` seconds."""
    before = socket_backlog(port)
    time.sleep(settle)  # the check itself: does the backlog move?
    return before > 0 and socket_backlog(port) == before


def _stalled(broker: Any) -> contextlib.AbstractContextManager[None]:
    """The broker process stopped (SIGSTOP): Kafka accepts nothing until the block ends."""

    @contextlib.contextmanager
    def stall() -> Iterator[None]:
        os.killpg(broker.proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(broker.proc.pid, signal.SIGCONT)

    return stall()


def test_kafka_hiccup_shorter_than_queue_full_wait_loses_nothing(inlet_factory, kafka_broker):
    # A 1 MiB producer queue and 2 MB of datagrams while the broker is stopped: the worker
    # waits for room, the rest waits in the socket buffer, nothing is dropped. (A Kafka
    # message holds many datagrams, envelope v2: queue-bytes binds, not queue-size.)
    inlet = inlet_factory(
        workers=1,
        receive_buffer=16 * 1024 * 1024,
        **{"queue-bytes": 1024 * 1024, "queue-full-wait": 5},
    )
    payloads = [b"%04d" % i + os.urandom(1000) for i in range(2000)]  # LZ4 cannot shrink them
    with _stalled(kafka_broker):
        sock, _ = send(inlet.port, payloads)
        # The producer queue is full and the worker waits: the rest stays in the socket.
        wait_for(lambda: worker_blocked(inlet.port), 10, "datagrams held in the socket")
    got = read_payloads(kafka_broker.bootstrap, inlet.topic, expected=len(payloads))
    sock.close()
    assert sorted(got) == payloads
    assert inlet.wait_metric("flowweir_inlet_udp_datagrams_total", 2000) == 2000
    assert inlet.metric_sum("flowweir_inlet_udp_drops_total", reason="queue_full") == 0


def test_queue_full_drops_are_counted_and_flow_resumes(inlet_factory, kafka_broker):
    # queue-full-wait 0: with Kafka stopped, what does not fit the queue is dropped at once,
    # counted, and the worker keeps reading; once Kafka is back, datagrams flow again.
    # A Kafka message holds many datagrams (envelope v2): the 1 MiB queue-bytes binds.
    inlet = inlet_factory(
        workers=1,
        receive_buffer=16 * 1024 * 1024,
        **{"queue-bytes": 1024 * 1024, "queue-full-wait": 0},
    )
    sent = 3000
    with _stalled(kafka_broker):
        # Random bytes: the inlet's LZ4 cannot shrink them under the queue's 1 MiB.
        sock, _ = send(inlet.port, [b"%04d" % i + os.urandom(1000) for i in range(sent)])
        assert inlet.wait_metric("flowweir_inlet_udp_datagrams_total", sent) == sent
        dropped = inlet.metric_sum("flowweir_inlet_udp_drops_total", reason="queue_full")
        assert 1000 <= dropped <= sent - 500  # the queue held about 1 MiB of them
    assert inlet.wait_metric("flowweir_inlet_kafka_queue_messages", 0, timeout=30) == 0
    later = [b"late%04d" % i for i in range(10)]
    for p in later:
        sock.sendto(p, ("127.0.0.1", inlet.port))
    got = read_payloads(kafka_broker.bootstrap, inlet.topic, expected=sent - dropped + 10)
    sock.close()
    assert len(got) == sent - dropped + 10  # everything not counted as dropped arrived
    assert set(later) <= set(got)
