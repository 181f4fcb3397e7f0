"""The work of a refresh task: poll the providers for one exporter and write the cache.

One `Refresher` per worker process (built lazily after the fork), holding the providers, the
Redis cache, the shared breaker and the process's metric values.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from enum import StrEnum

import redis

from collector.config.types import normalize_address
from collector.metrics.stats import Stats
from enrich.breaker import Breaker
from enrich.cache import Answer, MetadataCache, key
from enrich.config import EnrichConfig
from enrich.metrics import WORKER_METRICS
from enrich.providers import NotReady, Provider, ProviderError

log = logging.getLogger(__name__)


# Where each polling provider's scope is configured (named in the out-of-scope warning).
SCOPE_KEYS = {
    "snmp": "enrich.snmp.communities and enrich.snmp.security-parameters",
    "gnmi": "enrich.gnmi.targets",
}


class Outcome(StrEnum):
    ANSWERED = "answered"
    MISSING = "missing"
    FAILED = "failed"
    BREAKER_OPEN = "breaker-open"
    NOT_READY = "not-ready"


def build_providers(config: EnrichConfig, cache: MetadataCache, stats: Stats) -> list[Provider]:
    providers: list[Provider] = []
    for name in config.providers:
        if name == "static":
            from enrich.providers.static import StaticProvider

            providers.append(
                StaticProvider(
                    config.static,
                    on_error=lambda kind: stats.inc(
                        "flowweir_enrich_provider_errors", ("static", kind)
                    ),
                )
            )
        elif name == "snmp":
            from enrich.providers.snmp import SNMPProvider

            providers.append(SNMPProvider(config.snmp))
        else:
            from enrich.providers.gnmi import GNMIProvider

            providers.append(GNMIProvider(config.gnmi, cache))
    return providers


class Refresher:
    def __init__(
        self,
        config: EnrichConfig,
        client: redis.Redis,
        stats: Stats | None = None,
        providers: list[Provider] | None = None,
    ) -> None:
        self.config = config
        self.redis = client
        self.cache = MetadataCache(client)
        self.stats = stats or Stats(WORKER_METRICS)
        self.breaker = Breaker(client, config.breaker.failures, config.breaker.cool_down)
        self.providers = (
            providers if providers is not None else build_providers(config, self.cache, self.stats)
        )
        self._flushed = 0.0
        self._scope_logged: set[tuple[str, str]] = set()
        self.source = f"{socket.gethostname()}:{os.getpid()}"

    def poll(self, exporter: str, ifindexes: set[int]) -> tuple[Outcome, Answer | None, str]:
        """Ask the providers in order; (outcome, merged answer, failure kind)."""
        merged = Answer()
        remaining = set(ifindexes)
        answered = False
        failure = ""
        for provider in self.providers:
            if provider.polls_device and not provider.in_scope(exporter):
                # Second line of defence (the outlet asks only for datagram sources): never
                # send a packet to an address the configuration gives no credentials for.
                self.stats.inc("flowweir_enrich_provider_out_of_scope", (provider.name,))
                self._out_of_scope(provider.name, exporter)
                continue
            if provider.polls_device and not self.breaker.allow(exporter):
                self.stats.inc("flowweir_enrich_breaker_skips")
                failure = failure or "breaker-open"
                break
            try:
                answer = provider.query(exporter, remaining)
            except NotReady:
                return Outcome.NOT_READY, None, ""
            except ProviderError as exc:
                log.info("%s provider, exporter %s: %s", provider.name, exporter, exc)
                self.stats.inc("flowweir_enrich_provider_errors", (provider.name, exc.kind))
                failure = exc.kind
                if provider.polls_device and self.breaker.failure(exporter):
                    log.warning("breaker for exporter %s opened", exporter)
                    self.stats.inc("flowweir_enrich_breaker_opens")
                continue
            if answer is None:
                continue
            if answer.error:
                self.stats.inc("flowweir_enrich_provider_errors", (provider.name, answer.error))
                self.stats.inc("flowweir_enrich_provider_answers", (provider.name, "served-cached"))
                failure = answer.error
                if provider.polls_device and self.breaker.failure(exporter):
                    self.stats.inc("flowweir_enrich_breaker_opens")
            else:
                self.stats.inc("flowweir_enrich_provider_answers", (provider.name, "fresh"))
                if provider.polls_device:
                    self.breaker.success(exporter)
            if not answered:
                merged.exporter, merged.provider = answer.exporter, provider.name
                answered = True
            for ifindex, iface in answer.interfaces.items():
                if ifindex in remaining:
                    merged.interfaces[ifindex] = iface
                    if ifindex in answer.interface_sources:
                        merged.interface_sources[ifindex] = answer.interface_sources[ifindex]
                    remaining.discard(ifindex)
            if not remaining:
                break
        if answered:
            if not failure:
                for ifindex in remaining:
                    merged.interfaces[ifindex] = None
            return Outcome.ANSWERED, merged, failure
        if failure:
            return (
                Outcome.BREAKER_OPEN if failure == "breaker-open" else Outcome.FAILED,
                None,
                failure,
            )
        return Outcome.MISSING, Answer(interfaces=dict.fromkeys(ifindexes)), ""

    def _out_of_scope(self, provider: str, exporter: str) -> None:
        if len(self._scope_logged) < 100 and (provider, exporter) not in self._scope_logged:
            self._scope_logged.add((provider, exporter))
            log.warning(
                "%s provider: exporter %s is outside every subnet of %s; not polled "
                "(add its subnet there to poll it)",
                provider,
                exporter,
                SCOPE_KEYS.get(provider, f"enrich.{provider}"),
            )

    def refresh(self, exporter: str) -> Outcome:
        """Poll `exporter` for the ifIndexes outlets want plus those already cached, and store."""
        exporter = normalize_address(exporter)
        start = time.monotonic()
        ifindexes = self.cache.take_wanted(exporter)
        outcome, answer, failure = self.poll(exporter, ifindexes)
        if outcome is Outcome.NOT_READY:
            # Nothing learnt: put the wanted ifIndexes back for the retry.
            if ifindexes:
                self.redis.sadd(key("wanted", exporter), *[str(i) for i in ifindexes])
        elif answer is not None:
            self.cache.store(exporter, answer)
            unanswered = ifindexes - set(answer.interfaces)
            if unanswered:
                self.cache.store_unreachable(exporter, unanswered, failure or "unknown")
        else:
            self.cache.store_unreachable(exporter, ifindexes, failure)
        self.stats.inc("flowweir_enrich_worker_refreshes", (outcome.value,))
        self.stats.inc("flowweir_enrich_worker_refresh_seconds", value=time.monotonic() - start)
        return outcome

    def check(self) -> list[str]:
        """Evict what nobody read for cache-duration; return exporters due for a refresh."""
        evicted = self.cache.evict(self.config.cache_duration)
        if evicted:
            log.info(
                "evicted %d exporters not read for %ss", len(evicted), self.config.cache_duration
            )
            self.stats.inc("flowweir_enrich_cache_evictions", value=len(evicted))
        due = [
            e
            for e in self.cache.stale(self.config.cache_refresh)
            if self.cache.claim(e, self.config.request_ttl)
        ]
        self.stats.inc("flowweir_enrich_cache_refresh_requests", value=len(due))
        return due

    def flush_stats(self, force: bool = False) -> None:
        """Publish this process's metric values in Redis (read by `flowweir enrich worker`)."""
        now = time.monotonic()
        if not force and now - self._flushed < 1.0:
            return
        self._flushed = now
        snap = [[name, list(labels), v] for (name, labels), v in self.stats.snapshot().items()]
        with contextlib.suppress(redis.RedisError):
            self.redis.hset(key("metrics"), self.source, json.dumps(snap))

    def close(self) -> None:
        self.flush_stats(force=True)
        for provider in self.providers:
            provider.close()
