"""Metric families of the enrichment workers and of the outlet-side client.

Counters are declared without `_total` (the exposition adds it). Label values are bounded:
provider names, error kinds from `enrich.providers.ERROR_KINDS`, fixed results, and exporter
addresses (as many as there are exporters).
"""

from __future__ import annotations

from collector.metrics.stats import MetricDef, MetricSet

WORKER_METRICS = MetricSet(
    MetricDef(
        "flowweir_enrich_worker_refreshes",
        "Refresh tasks run, by result (answered, missing, failed, breaker-open, not-ready).",
        "counter",
        ("result",),
    ),
    MetricDef(
        "flowweir_enrich_worker_refresh_seconds",
        "Time spent polling providers in refresh tasks.",
        "counter",
    ),
    MetricDef(
        "flowweir_enrich_provider_errors",
        "Failed provider requests, by provider and error kind.",
        "counter",
        ("provider", "kind"),
    ),
    MetricDef(
        "flowweir_enrich_provider_out_of_scope",
        "Refreshes a provider refused because the exporter is outside every subnet its "
        "configuration gives credentials for (never polled).",
        "counter",
        ("provider",),
    ),
    MetricDef(
        "flowweir_enrich_provider_answers",
        "Exporters answered, by provider (served-cached: from state kept while unreachable).",
        "counter",
        ("provider", "state"),
    ),
    MetricDef(
        "flowweir_enrich_breaker_opens",
        "Times a per-exporter breaker opened (or re-opened after a failed probe).",
        "counter",
    ),
    MetricDef(
        "flowweir_enrich_breaker_skips",
        "Refreshes not polled because the exporter's breaker was open.",
        "counter",
    ),
    MetricDef(
        "flowweir_enrich_cache_evictions",
        "Exporters evicted from the cache because no outlet read them for cache-duration.",
        "counter",
    ),
    MetricDef(
        "flowweir_enrich_cache_refresh_requests",
        "Refresh tasks queued by the periodic check for entries older than cache-refresh.",
        "counter",
    ),
    MetricDef(
        "flowweir_enrich_cache_refresh_age_seconds",
        "Seconds since the last poll of each exporter in the cache.",
        "gauge",
        ("exporter",),
    ),
)

CLIENT_METRICS = MetricSet(
    MetricDef(
        "flowweir_enrich_client_hits",
        "Lookups answered, by where the answer came from (local: in-process cache, redis).",
        "counter",
        ("source",),
    ),
    MetricDef(
        "flowweir_enrich_client_misses",
        "Lookups that found nothing in Redis and asked the workers.",
        "counter",
    ),
    MetricDef(
        "flowweir_enrich_client_requests",
        "Refresh tasks queued by lookups (after deduplication).",
        "counter",
    ),
    MetricDef("flowweir_enrich_client_waits", "Lookups that waited for the workers.", "counter"),
    MetricDef(
        "flowweir_enrich_client_wait_seconds",
        "Time lookups spent waiting for the workers.",
        "counter",
    ),
    MetricDef(
        "flowweir_enrich_client_timeouts",
        "Waits that ended without an answer (query-timeout, or the end of initial-delay).",
        "counter",
    ),
    MetricDef(
        "flowweir_enrich_client_missing",
        "Lookups without metadata, by exporter and action (kept with empty names, or rejected).",
        "counter",
        ("exporter", "action"),
    ),
    MetricDef(
        "flowweir_enrich_client_errors",
        "Errors talking to Redis or to the Celery broker, by kind.",
        "counter",
        ("kind",),
    ),
    MetricDef(
        "flowweir_enrich_client_outages",
        "Times the metadata cache (Redis) stopped answering (each logged once).",
        "counter",
    ),
)
