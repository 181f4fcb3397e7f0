"""Every metric an outlet worker process reports."""

from __future__ import annotations

from collector.metrics.stats import MetricDef, MetricSet
from collector.outlet.clickhouse.writer import WRITER_METRICS
from collector.outlet.core.enricher import CORE_METRICS
from collector.outlet.decoder.metrics import METRICS as DECODER_METRICS
from enrich.metrics import CLIENT_METRICS

P = "flowweir_outlet_kafka_"
KAFKA_METRICS = MetricSet(
    MetricDef(P + "records", "Kafka records consumed.", "counter", ("worker",)),
    MetricDef(
        P + "corrupt_records",
        "Records that are not a valid envelope (skipped), by reason: tombstone (no value), "
        "truncated (shorter than the header), version, field (unknown decoder kind or "
        "timestamp source).",
        "counter",
        ("worker", "reason"),
    ),
    MetricDef(
        P + "commits", "Offset commits after ClickHouse acknowledged.", "counter", ("worker",)
    ),
    MetricDef(
        P + "commit_errors",
        "Offset commits that failed (flows may come again).",
        "counter",
        ("worker",),
    ),
    MetricDef(
        P + "uncommitted_records", "Records consumed, not yet committed.", "gauge", ("worker",)
    ),
    MetricDef(
        P + "consumer_lag_records",
        "High watermark minus position, per partition.",
        "gauge",
        ("worker", "partition"),
    ),
    MetricDef(
        P + "assigned_partitions", "Partitions assigned to this worker.", "gauge", ("worker",)
    ),
    MetricDef(P + "rebalances", "Partition revocations handled.", "counter", ("worker",)),
    MetricDef(
        P + "discarded_records",
        "Records dropped from memory at a revocation while ClickHouse "
        "was down (read again by the next owner, not lost).",
        "counter",
        ("worker",),
    ),
    MetricDef("flowweir_outlet_workers_running", "Worker processes alive.", "gauge"),
    MetricDef(
        "flowweir_outlet_workers_restarts", "Worker processes restarted after dying.", "counter"
    ),
)

OUTLET_METRICS = KAFKA_METRICS + DECODER_METRICS + CORE_METRICS + WRITER_METRICS + CLIENT_METRICS
