"""Real eBPF: the round-robin program spreads one 5-tuple evenly over the workers."""

from __future__ import annotations

import socket

from tests.inlet.conftest import requires_root

DATAGRAMS = 4000
WORKERS = 4


def per_worker(inlet) -> list[float]:
    inlet.wait_metric("flowweir_inlet_udp_datagrams_total", DATAGRAMS)
    return [
        inlet.metric_sum("flowweir_inlet_udp_datagrams_total", worker=str(i))
        for i in range(WORKERS)
    ]


def flood_from_one_port(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))  # one source port: a single 5-tuple for the kernel's hash
    for _ in range(DATAGRAMS):
        sock.sendto(b"\x00\x09" + bytes(98), ("127.0.0.1", port))
    sock.close()


@requires_root
def test_round_robin_over_four_workers(inlet_factory):
    inlet = inlet_factory(workers=WORKERS)
    assert inlet.metric_sum("flowweir_inlet_ebpf_loaded") == 1, inlet.log()
    flood_from_one_port(inlet.port)
    counts = per_worker(inlet)
    assert sum(counts) == DATAGRAMS
    for count in counts:
        assert abs(count - DATAGRAMS / WORKERS) <= 0.05 * DATAGRAMS / WORKERS, counts


def test_without_ebpf_one_flow_lands_on_one_worker(inlet_factory):
    """What the eBPF program fixes: the kernel hashes the 5-tuple, so one exporter
    sending from one port keeps a single worker busy while the others idle."""
    inlet = inlet_factory(workers=WORKERS, ebpf=False)
    assert inlet.metric_sum("flowweir_inlet_ebpf_loaded") == 0
    assert "disabled in config" in str(inlet.health())
    flood_from_one_port(inlet.port)
    counts = per_worker(inlet)
    assert sorted(counts) == [0, 0, 0, DATAGRAMS], counts
