"""Breaker, grace period, refresh and expiry, with real Celery workers, beat and SNMP agents."""

from __future__ import annotations

import threading
import time

from collector.devservices.base import wait_for
from collector.devservices.snmp import Snmpd
from tests.enrich.conftest import worker_metric


def test_breaker_bounds_requests_to_a_dead_agent(deploy, udp_counter):
    dead = udp_counter()  # receives, never answers
    # The acceptance asks for a minute: without the breaker beat alone would poll ~200 times.
    cool_down, failures, run_for = 10.0, 2, 60.0
    d = deploy(
        {
            "providers": ["snmp"],
            "cache-refresh": "300ms",
            "cache-duration": "1m",
            "cache-check-interval": "200ms",
            "breaker": {"failures": failures, "cool-down": cool_down},
            "snmp": {
                "timeout": 0.1,
                "retries": 0,
                "communities": {"192.0.2.66": ["public"]},
                "ports": {"192.0.2.66": dead.port},
                "agents": {"192.0.2.66": "127.0.0.1"},
            },
        },
        client={"initial-delay": 0, "query-timeout": "150ms", "local-cache-ttl": "200ms"},
    )
    d.worker()
    d.beat()
    client, stats = d.client()
    lookups = 0
    end = time.monotonic() + run_for  # the bound is a count over this time, not a duration
    while time.monotonic() < end:
        for ifindex in range(1, 30):  # many ifIndexes: every one is a miss at first
            md = client.lookup("192.0.2.66", ifindex)
            lookups += 1
            assert md is not None and not md.found
        time.sleep(0.05)  # an outlet's pace, not a wait for something
    # Without the breaker every refresh (every 300 ms by beat, plus every lookup miss) would
    # reach the agent; with it: `failures` polls, then one probe per cool-down.
    bound = failures + run_for / cool_down + 2
    print(f"dead agent: {dead.count} requests in {run_for}s (bound {bound:.0f}), {lookups} lookups")
    assert 1 <= dead.count <= bound, (dead.count, bound)
    assert worker_metric(d, "flowweir_enrich_breaker_opens") >= 1
    assert worker_metric(d, "flowweir_enrich_breaker_skips") >= 1
    assert worker_metric(d, "flowweir_enrich_provider_errors", ("snmp", "timeout")) >= 1
    # How long a lookup waits when nobody answers is measured by `python -m bench.enrich`.
    assert stats.get("flowweir_enrich_client_missing", ("192.0.2.66", "kept")) == lookups


def test_grace_period_waits_for_a_late_worker(deploy, snmpd):
    d = deploy(
        {
            "providers": ["snmp"],
            "snmp": {
                "timeout": 0.5,
                "communities": {"127.0.0.1": ["public"]},
                "ports": {"127.0.0.1": snmpd.port},
            },
        },
        client={"initial-delay": "30s", "query-timeout": "50ms"},
    )
    client, stats = d.client()  # the outlet starts first, no worker yet, cache cold
    results: dict[int, object] = {}

    def outlet() -> None:
        for ifindex in (1, 2):
            results[ifindex] = client.lookup("127.0.0.1", ifindex)

    t = threading.Thread(target=outlet)
    t.start()
    wait_for(lambda: stats.get("flowweir_enrich_client_waits") >= 1, 10, "a waiting lookup")
    assert not results
    # A worker takes about a second to start, far beyond query-timeout (50 ms): only the
    # grace period keeps the lookup waiting for its answer.
    d.worker()
    t.join(30)
    assert results[1].found and results[1].interface.name == "lo"
    assert results[2].found
    assert results[1].exporter.name == "snmpd-router"
    assert stats.get("flowweir_enrich_client_timeouts") == 0
    assert stats.get("flowweir_enrich_client_waits") >= 1


def test_changed_description_refreshes_and_unread_exporter_is_evicted(deploy):
    agent = Snmpd()
    agent.start(aliases={1: "old description"})
    try:
        d = deploy(
            {
                "providers": ["snmp"],
                "cache-refresh": "1s",
                "cache-duration": "4s",
                "cache-check-interval": "300ms",
                "snmp": {
                    "timeout": 0.5,
                    "communities": {"127.0.0.1": ["public"]},
                    "ports": {"127.0.0.1": agent.port},
                },
            },
            client={"initial-delay": 0, "query-timeout": "5s", "local-cache-ttl": "200ms"},
        )
        d.worker()
        d.beat()
        client, _ = d.client()
        assert client.lookup("127.0.0.1", 1).interface.description == "old description"
        agent.restart(aliases={1: "new description"})

        def described(text: str) -> bool:
            md = client.lookup("127.0.0.1", 1)  # the outlet keeps reading: no eviction
            return md is not None and md.interface.description == text

        wait_for(lambda: described("new description"), 20, "refreshed description", interval=0.2)
        # The outlet stops reading this exporter: gone after cache-duration.
        wait_for(lambda: not d.redis.exists("flowweir:md:v1:exp:127.0.0.1"), 20, "eviction", 0.2)
        assert not d.redis.hlen("flowweir:md:v1:if:127.0.0.1")
        assert worker_metric(d, "flowweir_enrich_cache_evictions") >= 1
    finally:
        agent.stop()
