"""Orchestrator metrics: `flowweir_orchestrator_<component>_<what>_<unit>`."""

from __future__ import annotations

from collector.metrics.stats import MetricDef, MetricSet

P = "flowweir_orchestrator_"

MIGRATION_STATEMENTS = P + "clickhouse_migration_statements"
MIGRATIONS_APPLIED = P + "clickhouse_migrations_applied"
MIGRATION_WARNINGS = P + "clickhouse_migration_warnings"
SCHEMA_READY = P + "clickhouse_schema_ready"
LEGACY_DIALECT = P + "clickhouse_legacy_dialect"
PARTITIONS_DROPPED = P + "retention_partitions_dropped"
RETENTION_RUNS = P + "retention_runs"
TOPIC_PARTITIONS = P + "kafka_topic_partitions"
TOPIC_CHANGES = P + "kafka_topic_changes"
TOPIC_READY = P + "kafka_topic_ready"
ERRORS = P + "errors"

METRICS = MetricSet(
    MetricDef(
        MIGRATION_STATEMENTS,
        "Statements that changed the ClickHouse schema (DDL, bookkeeping, dictionary data).",
        "counter",
        ("server",),
    ),
    MetricDef(MIGRATIONS_APPLIED, "Migration runs that changed something.", "counter", ("server",)),
    MetricDef(
        MIGRATION_WARNINGS,
        "Schema differences left to the operator (see the log).",
        "counter",
        ("server",),
    ),
    MetricDef(
        SCHEMA_READY, "1 when the last migration of this server succeeded.", "gauge", ("server",)
    ),
    MetricDef(
        LEGACY_DIALECT,
        "1 when the server is a legacy ClickHouse (no TTL: retention by partition drops).",
        "gauge",
        ("server",),
    ),
    MetricDef(
        PARTITIONS_DROPPED,
        "Expired partitions dropped by the retention timer.",
        "counter",
        ("server", "table"),
    ),
    MetricDef(RETENTION_RUNS, "Retention passes, by result.", "counter", ("result",)),
    MetricDef(TOPIC_PARTITIONS, "Partitions of the flows topic.", "gauge"),
    MetricDef(
        TOPIC_CHANGES,
        "Changes made to the flows topic (created, partitions, config).",
        "counter",
        ("change",),
    ),
    MetricDef(TOPIC_READY, "1 when the flows topic exists as configured.", "gauge"),
    MetricDef(
        ERRORS,
        "Errors, by component (clickhouse, kafka, retention) and kind "
        "(unreachable, server, config).",
        "counter",
        ("component", "kind"),
    ),
)
