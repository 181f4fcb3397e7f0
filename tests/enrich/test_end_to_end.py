"""End to end: flows from the inlet land in ClickHouse named from SNMP (snmpsim router, Celery worker)."""

from __future__ import annotations

from collector.generator.netflow9 import flood
from tests.outlet.pipeline.conftest import Pipeline


def test_flows_land_with_snmp_names(
    kafka_broker, clickhouse_server, redis_server, snmpsim, deploy, tmp_path
):
    d = deploy(
        {
            "providers": ["snmp"],
            "snmp": {
                "communities": {"127.0.0.1/32": [snmpsim.community]},
                "ports": {"127.0.0.1/32": snmpsim.port},
            },
        },
        client={"initial-delay": "20s"},
    )
    d.worker()
    pipeline = Pipeline(kafka_broker, clickhouse_server, redis_server, tmp_path)
    pipeline.base["enrich"] = d.data["enrich"]
    pipeline.base["redis"] = {"url": d.redis_url}  # the workers' Redis database
    try:
        pipeline.orchestrate()
        pipeline.inlet()
        pipeline.outlet(metadata="enrich", enrichment=d.data["outlet"]["enrichment"])
        flood(("127.0.0.1", pipeline.port), 100, rate=100)  # interfaces 1-4, exporter 127.0.0.1
        assert pipeline.wait_rows("flows", 3000) == 3000
        rows = pipeline.query(
            "SELECT DISTINCT ExporterName, InIf, InIfName, InIfDescription, InIfSpeed FROM flows ORDER BY InIf"
        )
        expected = [("sim-router-par1", i, *snmpsim.interfaces[i]) for i in (1, 2, 3, 4)]
        assert [tuple(r) for r in rows] == expected
        assert pipeline.query("SELECT count() FROM flows WHERE OutIfName = ''")[0][0] == 0
    finally:
        pipeline.stop()
