"""Outlet side: synchronous metadata lookups with an in-process cache in front of Redis.

API for the outlet (one client per outlet process, used from one thread)::

    from enrich.client import MetadataClient, CLIENT_METRICS
    stats = Stats(CLIENT_METRICS)             # or a Stats over a MetricSet that includes it
    client = MetadataClient(config.outlet.enrichment, config.redis, stats)
    md = client.lookup(exporter, ifindex)     # exporter: "192.0.2.1", or 16 bytes (envelope)
    if md is None:                            # missing and `outlet.enrichment.missing: reject`
        drop the flow
    else:                                     # md.exporter.name/group/role/site/region/tenant,
        ...                                   # md.interface.name/description/speed (Mbit/s)/
                                              # provider/connectivity/boundary; md.found
    client.flush_stats()                      # before reading `stats` (hits are folded in lazily)
    client.close()

    client.prefetch(exporter, ifindexes)      # optional: queue one poll for many ifIndexes

Settings (`local-cache-ttl`, `query-timeout`, ...) are the `outlet.enrichment` section
(`collector.config.shared.EnrichmentClientConfig`); refresh tasks go to its `queue`, which must
be the workers' `enrich.queue`.

- A hit in the in-process cache (entries live `local-cache-ttl`) costs a dict lookup.
- Otherwise one Redis round trip reads the exporter and interface records (and records the
  access, which keeps the entry from eviction for `cache-duration`).
- On a miss the client asks for the ifIndex (a refresh task `flowweir.enrich.refresh`, queued
  once per exporter however many outlets ask) and polls Redis until the workers answer, for at
  most `query-timeout`; during `initial-delay` after the client was built it waits up to the end
  of that window instead. A wait that ends without an answer is remembered for one second
  (never longer than `local-cache-ttl`), so a dead exporter costs at most one `query-timeout`
  per (exporter, ifIndex) per second.
- Metadata still missing is returned as `found=False` with empty names when `missing: keep`
  (the default), or as None when `missing: reject`; either way it is counted in
  `flowweir_enrich_client_missing_total{exporter,action}`.
- Redis or broker errors never raise: the lookup answers "missing" and counts the error.
  An outage is logged once when it starts and once when Redis answers again, and counted
  in `flowweir_enrich_client_outages_total`.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import redis
from celery import Celery

from collector.config.shared import EnrichmentClientConfig, RedisConfig
from collector.config.types import normalize_address
from collector.metrics.stats import Stats
from enrich.cache import Exporter, Interface, MetadataCache
from enrich.metrics import CLIENT_METRICS

__all__ = ["CLIENT_METRICS", "Metadata", "MetadataClient"]

log = logging.getLogger(__name__)

REFRESH_TASK = "flowweir.enrich.refresh"  # same name as enrich.app.REFRESH_TASK
MISS_MEMORY = 1.0  # seconds a wait that ended without answer is remembered
POLL_FIRST, POLL_MAX = 0.002, 0.05  # Redis polling while waiting: first interval, cap


@dataclass(frozen=True, slots=True)
class Metadata:
    exporter: Exporter = field(default_factory=Exporter)
    interface: Interface = field(default_factory=Interface)
    found: bool = False


class MetadataClient:
    def __init__(
        self,
        config: EnrichmentClientConfig,
        redis_config: RedisConfig,
        stats: Stats,
        *,
        redis_client: redis.Redis | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.stats = stats
        self.clock = clock
        url = redis_config.url.get_secret_value()
        self.redis = redis_client or redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=2
        )
        self.cache = MetadataCache(self.redis)
        self.grace_until = clock() + config.initial_delay
        self.keep_missing = config.missing == "keep"
        self._local: dict[tuple[str, int], tuple[float, Metadata]] = {}
        self._names: dict[bytes, str] = {}
        self.local_hits = 0
        self._redis_url = redis_config.url
        self._outage_errors = 0  # Redis errors since the outage began; 0: Redis answers
        self._broker_errors = 0  # the same for the Celery broker
        self._celery = Celery("flowweir-enrich-client")
        self._celery.conf.update(
            broker_url=url,
            task_default_queue=config.queue,
            broker_connection_timeout=2,
            broker_transport_options={"max_retries": 1},
        )

    # The outlet's per-flow call. Hot path: the in-process hit is the first branch.
    def lookup(self, exporter: str | bytes, ifindex: int) -> Metadata | None:
        name = self._name(exporter) if isinstance(exporter, bytes) else exporter
        now = self.clock()
        cached = self._local.get((name, ifindex))
        if cached is not None and cached[0] > now:
            md = cached[1]
            self.local_hits += 1  # folded into stats by flush_stats() and on the slow path
            return md if md.found else self._missing(name, md)
        self.flush_stats()
        return self._lookup_slow(normalize_address(name), name, ifindex, now)

    def flush_stats(self) -> None:
        """Fold the hot path's plain counters into `stats` (call before taking a snapshot)."""
        if self.local_hits:
            self.stats.inc("flowweir_enrich_client_hits", ("local",), self.local_hits)
            self.local_hits = 0

    def _name(self, raw: bytes) -> str:
        name = self._names.get(raw)
        if name is None:
            name = normalize_address(str(ipaddress.ip_address(raw)))
            if len(self._names) < 100_000:
                self._names[raw] = name
        return name

    def _lookup_slow(self, exporter: str, name: str, ifindex: int, now: float) -> Metadata | None:
        try:
            md = self._read(exporter, ifindex)
        except redis.RedisError as exc:
            self._redis_error(exc)
            return self._remember(name, ifindex, Metadata(), now + MISS_MEMORY)
        self._redis_answered()
        if md is not None:
            self.stats.inc("flowweir_enrich_client_hits", ("redis",))
            return self._remember(name, ifindex, md, now + self.config.local_cache_ttl)
        self.stats.inc("flowweir_enrich_client_misses")
        md = self._wait(exporter, ifindex, now)
        if md is None:
            ttl = min(MISS_MEMORY, self.config.local_cache_ttl)
            return self._remember(name, ifindex, Metadata(), self.clock() + ttl)
        return self._remember(name, ifindex, md, self.clock() + self.config.local_cache_ttl)

    def _redis_error(self, exc: redis.RedisError) -> None:
        """Count a Redis error; log the first one of an outage only."""
        self.stats.inc("flowweir_enrich_client_errors", ("redis",))
        if not self._outage_errors:
            self.stats.inc("flowweir_enrich_client_outages")
            log.warning(
                "metadata cache unreachable (redis.url %s): %s; flows get no metadata until it "
                "answers again (errors counted in flowweir_enrich_client_errors_total)",
                self._redis_url,
                " ".join(str(exc).split()) or type(exc).__name__,
            )
        self._outage_errors += 1

    def _redis_answered(self) -> None:
        if self._outage_errors:
            log.info(
                "metadata cache reachable again (%d Redis errors during the outage)",
                self._outage_errors,
            )
            self._outage_errors = 0

    def _read(self, exporter: str, ifindex: int) -> Metadata | None:
        """The cached answer (found or negative), or None when the cache knows nothing yet."""
        (_, exp, _), (if_known, iface, _) = self.cache.read(exporter, ifindex)
        if not if_known:
            return None
        if iface is None:
            return Metadata(exporter=exp or Exporter(), found=False)
        return Metadata(exporter=exp or Exporter(), interface=iface, found=True)

    def _wait(self, exporter: str, ifindex: int, now: float) -> Metadata | None:
        try:
            if self.cache.want(exporter, ifindex, self.config.request_ttl):
                self._request(exporter)
        except redis.RedisError as exc:
            self._redis_error(exc)
            return None
        deadline = now + self.config.query_timeout
        if now < self.grace_until:
            deadline = max(deadline, self.grace_until)
        self.stats.inc("flowweir_enrich_client_waits")
        interval = POLL_FIRST
        md: Metadata | None = None
        while True:
            left = deadline - self.clock()
            if left <= 0:
                break
            time.sleep(min(interval, left))
            interval = min(interval * 2, POLL_MAX)
            try:
                md = self._read(exporter, ifindex)
            except redis.RedisError as exc:
                self._redis_error(exc)
                break
            if md is not None:
                break
        self.stats.inc("flowweir_enrich_client_wait_seconds", value=max(0.0, self.clock() - now))
        if md is None:
            self.stats.inc("flowweir_enrich_client_timeouts")
        return md

    def _request(self, exporter: str) -> None:
        try:
            self._celery.send_task(REFRESH_TASK, args=[exporter], retry=False)
            self.stats.inc("flowweir_enrich_client_requests")
        except Exception as exc:  # kombu raises various connection errors
            if not self._broker_errors:  # once per outage of the broker
                log.warning(
                    "cannot queue metadata refreshes (first for %s): %s; lookups answer "
                    "'missing' until the Celery broker answers",
                    exporter,
                    " ".join(str(exc).split()) or type(exc).__name__,
                )
            self._broker_errors += 1
            self.stats.inc("flowweir_enrich_client_errors", ("broker",))
            self.cache.release(exporter)
            return
        if self._broker_errors:
            log.info("metadata refreshes queued again (%d failed)", self._broker_errors)
            self._broker_errors = 0

    def _remember(self, name: str, ifindex: int, md: Metadata, until: float) -> Metadata | None:
        local = self._local
        if len(local) >= self.config.local_cache_size:
            # Drop the oldest tenth (dicts keep insertion order).
            for k in list(local)[: max(1, len(local) // 10)]:
                del local[k]
        local[(name, ifindex)] = (until, md)
        return md if md.found else self._missing(name, md)

    def _missing(self, exporter: str, md: Metadata) -> Metadata | None:
        if self.keep_missing:
            self.stats.inc("flowweir_enrich_client_missing", (exporter, "kept"))
            return md
        self.stats.inc("flowweir_enrich_client_missing", (exporter, "rejected"))
        return None

    def prefetch(self, exporter: str | bytes, ifindexes: Iterable[int]) -> None:
        """Ask for several ifIndexes at once without waiting (e.g. those of a batch of flows), so
        that they are polled together; later `lookup()` calls wait for that single poll."""
        name = self._name(exporter) if isinstance(exporter, bytes) else exporter
        exporter = normalize_address(name)
        try:
            if self.cache.want_many(exporter, ifindexes, self.config.request_ttl):
                self._request(exporter)
        except redis.RedisError as exc:
            self._redis_error(exc)

    def in_grace_period(self) -> bool:
        return self.clock() < self.grace_until

    def close(self) -> None:
        self.flush_stats()
        self._celery.close()
        self.redis.close()
