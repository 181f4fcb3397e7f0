"""Console metrics: `flowweir_console_<component>_<what>_<unit>`."""

from __future__ import annotations

import threading

from collector.metrics.stats import LabelValues, MetricDef, MetricSet, Snapshot, Stats

P = "flowweir_console_"

REQUESTS = P + "http_requests"
QUERIES = P + "clickhouse_queries"
QUERY_SECONDS = P + "clickhouse_query_seconds"
QUERY_ERRORS = P + "clickhouse_query_errors"
AUTH_REFUSED = P + "auth_refused"
FILTER_ERRORS = P + "filter_errors"
OUTLET_ERRORS = P + "outlets_scrape_errors"

METRICS = MetricSet(
    MetricDef(
        REQUESTS,
        "API requests answered, by route and status class.",
        "counter",
        ("route", "status"),
    ),
    MetricDef(QUERIES, "Statements sent to ClickHouse, by table read.", "counter", ("table",)),
    MetricDef(QUERY_SECONDS, "Seconds spent waiting for ClickHouse.", "counter"),
    MetricDef(
        QUERY_ERRORS,
        "Statements that failed, by kind (limit, unreachable, server).",
        "counter",
        ("kind",),
    ),
    MetricDef(
        AUTH_REFUSED, "Requests refused for want of valid credentials.", "counter", ("mode",)
    ),
    MetricDef(FILTER_ERRORS, "Filters refused (syntax or value errors).", "counter"),
    MetricDef(OUTLET_ERRORS, "Outlet endpoints that did not answer the exporters page.", "counter"),
)


class LockedStats(Stats):
    """Stats written from the API's worker threads (FastAPI runs sync endpoints in a pool)."""

    def __init__(self, metrics: MetricSet) -> None:
        super().__init__(metrics)
        self._lock = threading.Lock()

    def inc(self, name: str, labels: LabelValues = (), value: float = 1) -> None:
        with self._lock:
            super().inc(name, labels, value)

    def set(self, name: str, labels: LabelValues = (), value: float = 0) -> None:
        with self._lock:
            super().set(name, labels, value)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return super().snapshot()
