"""ClickHouse refusals that retrying cannot fix stop the writer with one message, commit
nothing, and the health check says so; once fixed, a restarted outlet inserts every flow."""

from __future__ import annotations

import pytest

from collector.devservices.base import wait_for
from collector.generator.netflow9 import NetFlowV9Exporter
from tests.outlet.pipeline.test_hostile_records import envelope, produce


@pytest.mark.parametrize(
    "clickhouse, kind, fix",
    [
        ({"password": "not-the-password"}, "authentication", "clickhouse.password"),
        ({"database": "no_such_database"}, "schema", "flowweir orchestrator --once"),
    ],
)
def test_refused_insert_stops_the_writer_and_commits_nothing(
    pipeline, kafka_broker, clickhouse, kind, fix
):
    exporter = NetFlowV9Exporter(seed=11)
    batches = [exporter.datagram(10) for _ in range(3)]
    expected = sum(len(flows) for _, flows in batches)
    produce(
        kafka_broker.bootstrap,
        pipeline.topic,
        [envelope(exporter.templates())] + [envelope(data) for data, _ in batches],
    )
    outlet = pipeline.outlet(clickhouse=clickhouse, workers=1)

    def refused() -> bool:
        return kind in outlet.health().get("clickhouse", {})

    wait_for(refused, 60, f"health check reporting {kind}", interval=0.2)
    health = outlet.health()
    assert health["ok"] is False and fix in health["clickhouse"][kind]
    assert outlet.wait_metric("flowweir_outlet_clickhouse_writer_stopped", 1, kind=kind) == 1
    # Not retried: one attempt, one message naming the cause and the fix, no traceback.
    assert outlet.metric_sum("flowweir_outlet_clickhouse_insert_errors_total", kind=kind) == 1
    assert outlet.metric_sum("flowweir_outlet_kafka_commits_total") == 0
    log = outlet.log()
    assert log.count("ClickHouse refused the batch") == 1 and fix in log
    assert "retrying" not in log and "Traceback" not in log
    assert outlet.stop() != 0  # it did not do its job: systemd shows the unit failed

    # The cause fixed, a new outlet of the same group reads the uncommitted records again.
    pipeline.outlet(workers=1)
    assert pipeline.wait_rows("flows", expected) == expected
