"""The Celery application of the enrichment workers.

Tasks (names are part of the contract with the outlets, which send them by name):
- `flowweir.enrich.refresh(exporter)`: poll the providers for one exporter (the ifIndexes outlets
  asked for, plus those already cached) and write the cache; re-queued while the static provider
  is not ready, and again at the end when outlets asked for more meanwhile;
- `flowweir.enrich.check()`: run by Celery beat every `cache-check-interval`: evict entries not
  read for `cache-duration`, queue refreshes for entries older than `cache-refresh`.

Broker and result backend are the shared `redis` section; results are ignored. Each worker
process builds its own `Refresher` (providers, SNMP event loop) lazily, after Celery's fork.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_process_shutdown

from collector.config.root import Config
from enrich.refresh import Outcome, Refresher

log = logging.getLogger(__name__)

REFRESH_TASK = "flowweir.enrich.refresh"
CHECK_TASK = "flowweir.enrich.check"
NOT_READY_RETRY = 1.0  # seconds before a refresh is retried while the static provider loads


def celery_settings(config: Config) -> dict[str, Any]:
    url = config.redis.url.get_secret_value()
    return {
        "broker_url": url,
        "result_backend": url,
        "task_ignore_result": True,
        "task_default_queue": config.enrich.queue,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            "flowweir-enrich-check": {
                "task": CHECK_TASK,
                "schedule": config.enrich.cache_check_interval,
            }
        },
    }


def make_app(config: Config) -> Celery:
    app = Celery("flowweir-enrich")
    app.conf.update(celery_settings(config))
    state: dict[str, Any] = {}

    def refresher() -> Refresher:
        if state.get("pid") != os.getpid():
            state["pid"] = os.getpid()
            state["refresher"] = Refresher(
                config.enrich, redis.Redis.from_url(config.redis.url.get_secret_value())
            )
        return state["refresher"]  # type: ignore[no-any-return]

    @app.task(name=REFRESH_TASK, ignore_result=True)
    def refresh(exporter: str) -> str:
        e = refresher()
        try:
            outcome = e.refresh(exporter)
        finally:
            e.cache.release(exporter)
        # Outlets asked for more while this poll ran, or the static provider is loading.
        again = outcome is Outcome.NOT_READY or e.cache.has_wanted(exporter)
        if again and e.cache.claim(exporter, config.enrich.request_ttl):
            countdown = NOT_READY_RETRY if outcome is Outcome.NOT_READY else 0
            refresh.apply_async((exporter,), countdown=countdown)
        e.flush_stats()
        return outcome.value

    @app.task(name=CHECK_TASK, ignore_result=True)
    def check() -> int:
        e = refresher()
        due = e.check()
        for exporter in due:
            refresh.delay(exporter)
        e.flush_stats(force=True)
        return len(due)

    @worker_process_shutdown.connect(weak=False)
    def _shutdown(**_: Any) -> None:
        if state.get("pid") == os.getpid():
            state["refresher"].close()

    app.flowweir_config = config  # type: ignore[attr-defined]
    return app
