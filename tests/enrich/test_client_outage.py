"""The outlet's metadata client during a Redis outage: lookups answer "missing" at once, the
outage is logged once when it starts and once when it ends, and counted."""

from __future__ import annotations

import logging

from collector.config.shared import EnrichmentClientConfig, RedisConfig
from collector.devservices.redis import RedisServer
from collector.metrics.stats import Stats
from enrich.client import CLIENT_METRICS, MetadataClient


def test_outage_is_logged_once_and_counted(caplog):
    server = RedisServer().start()
    port = server.port
    config = EnrichmentClientConfig.model_validate(
        {"initial-delay": 0, "query-timeout": "10ms", "local-cache-ttl": "1ms"}
    )
    stats = Stats(CLIENT_METRICS)
    client = MetadataClient(config, RedisConfig(url=server.url), stats)
    caplog.set_level(logging.INFO, logger="enrich.client")
    try:
        assert not client.lookup("192.0.2.1", 1).found  # Redis answers: nothing known yet
        server.stop()
        for ifindex in range(2, 22):  # 20 lookups, each a Redis error
            md = client.lookup("192.0.2.1", ifindex)
            assert md is not None and not md.found  # `missing: keep`: the flow goes on
        assert stats.get("flowweir_enrich_client_errors", ("redis",)) >= 20
        assert stats.get("flowweir_enrich_client_outages") == 1
        down = [r for r in caplog.records if "metadata cache unreachable" in r.getMessage()]
        assert len(down) == 1 and f"127.0.0.1:{port}" in down[0].getMessage()

        server = RedisServer(port=port).start()
        client.lookup("192.0.2.1", 30)
        back = [r for r in caplog.records if "reachable again" in r.getMessage()]
        assert len(back) == 1 and "20 Redis errors" in back[0].getMessage()

        server.stop()  # a second outage is a second line and a second count
        client.lookup("192.0.2.1", 31)
        client.lookup("192.0.2.1", 32)
        assert stats.get("flowweir_enrich_client_outages") == 2
        down = [r for r in caplog.records if "metadata cache unreachable" in r.getMessage()]
        assert len(down) == 2
    finally:
        client.close()
        server.stop()
