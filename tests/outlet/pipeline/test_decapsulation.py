"""Decapsulation set on the inlet input travels in envelope v2 to the outlet: tunnelled sFlow
samples are stored as their inner packet, plain ones are dropped and counted."""

from __future__ import annotations

import socket

from collector.devservices.base import wait_for
from tests.outlet.decoder import frames as f

INNER = f.ip4("10.1.1.1", "10.2.2.2", 6, f.tcp(33000, 8443))
TUNNELLED = f.eth(
    0x0800, f.ip4("198.51.100.10", "198.51.100.20", 17, f.vxlan(4242, f.eth(0x0800, INNER)))
)
PLAIN = f.eth(0x0800, f.ip4("198.51.100.1", "203.0.113.9", 6, f.tcp(443, 40000)))


def test_inlet_decapsulation_reaches_the_outlet(pipeline) -> None:  # type: ignore[no-untyped-def]
    pipeline.inlet(sflow_decapsulation="vxlan")
    outlet = pipeline.outlet()
    datagram = f.sflow(
        f.flow_sample([f.raw_header(TUNNELLED)]),
        f.flow_sample([f.raw_header(PLAIN)]),
        f.flow_sample([f.raw_header(TUNNELLED)]),
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(datagram, ("127.0.0.1", pipeline.sflow_port))
    assert pipeline.wait_rows("flows", 2) == 2, outlet.log()
    rows = pipeline.query(
        "SELECT IPv4NumToString(toUInt32(reinterpretAsUInt32(reverse(substring(SrcAddr, 13, 4))))),"
        " DstPort, Proto FROM flows"
    )
    assert sorted(rows) == [("10.1.1.1", 8443, 6)] * 2

    def dropped() -> float:
        return outlet.metric_sum("flowweir_outlet_decoder_errors_total", kind="not_encapsulated")

    wait_for(lambda: dropped() == 1, 30, "the plain sample counted")
