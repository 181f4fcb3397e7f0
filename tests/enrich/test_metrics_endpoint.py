"""The enrichment worker's operations endpoint passes `promtool check metrics`."""

from __future__ import annotations

import urllib.request

from collector.devservices.base import free_port, wait_for
from tests.promtool import assert_clean_for_promtool


def test_worker_metrics_endpoint_is_clean_for_promtool(deploy, snmpd):
    listen = f"127.0.0.1:{free_port()}"
    d = deploy(
        {
            "http": {"listen": listen},
            "providers": ["snmp"],
            "snmp": {
                "timeout": 0.5,
                "communities": {"127.0.0.1": ["public"]},
                "ports": {"127.0.0.1": snmpd.port},
            },
        },
        client={"initial-delay": 0, "query-timeout": "10s"},
    )
    d.worker()
    client, _ = d.client()
    assert client.lookup("127.0.0.1", 1).found  # a refresh ran: its counters have values
    url = f"http://{listen}/api/v0/enrich/metrics"

    def text() -> str:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())

    wait_for(lambda: "flowweir_enrich_worker_refreshes_total{" in text(), 30, f"metrics at {url}")
    assert_clean_for_promtool(text())
