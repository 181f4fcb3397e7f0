"""The demo exporter in process (as benchmarks use it): what it counts is what arrives."""

from __future__ import annotations

import socket

from collector.demoexporter import metrics as m
from collector.demoexporter.config import load_demo_config
from collector.demoexporter.root import DemoExporter
from collector.devservices.base import free_port, wait_for
from collector.metrics.stats import Stats
from tests.demoexporter.test_datagrams import decode


def test_start_stop_in_process_counts_every_flow_it_sends() -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(2)
    config = load_demo_config(
        None,
        {
            "targets": {"ipfix": f"127.0.0.1:{sink.getsockname()[1]}"},
            "snmp": {"port": free_port(socket.SOCK_DGRAM)},
            "daily-pattern": False,
            "flow-limit": 500,
            "routers": [
                {
                    "name": "inproc",
                    "address": "127.0.0.41",
                    "protocol": "ipfix",
                    "flows-per-second": 1000,
                    "interfaces": [
                        {"index": 1, "name": "et-0/0/0", "description": "Transit: Cogent"},
                        {"index": 2, "name": "xe-0/0/0", "description": "Customer: ACME"},
                    ],
                }
            ],
        },
    )
    stats = Stats(m.METRICS)
    exporter = DemoExporter(config, stats).start()
    try:
        wait_for(lambda: stats.get(m.FLOWS, ("inproc", "ipfix")) == 500, 10, "500 flows sent")
    finally:
        exporter.stop()
    datagrams = []
    try:
        while True:
            data, (host, _) = sink.recvfrom(65535)
            assert host == "127.0.0.41"
            datagrams.append(data)
    except TimeoutError:
        pass
    sink.close()
    assert len(datagrams) == stats.get(m.DATAGRAMS, ("inproc", "ipfix"))
    rows, _ = decode(datagrams, "127.0.0.41")
    assert len(rows) == 500
    assert stats.get(m.EXPORT_ERRORS, ("inproc", m.SEND_FAILED)) == 0
