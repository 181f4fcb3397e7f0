"""Breaker per exporter, shared by every worker through Redis (keys `breaker:` and `probe:`).

Closed: polls go through. After `failures` consecutive failed polls it opens: nobody polls the
exporter until `cool-down` has passed; then exactly one worker gets to probe (a `SET NX` with the
cool-down as TTL); the probe's success closes the breaker, its failure re-opens it for another
cool-down.
"""

from __future__ import annotations

import time

import redis

from enrich.cache import key


class Breaker:
    def __init__(self, client: redis.Redis, failures: int, cool_down: float) -> None:
        self.redis = client
        self.failures = failures
        self.cool_down = cool_down

    def allow(self, exporter: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        opened = self.redis.hget(key("breaker", exporter), "opened")
        if opened is None:
            return True
        if now < float(opened) + self.cool_down:
            return False
        ttl = max(1, int(self.cool_down * 1000))
        return bool(self.redis.set(key("probe", exporter), b"1", nx=True, px=ttl))

    def is_open(self, exporter: str) -> bool:
        return self.redis.hget(key("breaker", exporter), "opened") is not None

    def success(self, exporter: str) -> None:
        self.redis.delete(key("breaker", exporter), key("probe", exporter))

    def failure(self, exporter: str, now: float | None = None) -> bool:
        """Record a failed poll; True when this failure opened (or re-opened) the breaker."""
        now = time.time() if now is None else now
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(key("breaker", exporter), "failures", 1)
        pipe.hget(key("breaker", exporter), "opened")
        count, opened = pipe.execute()
        if count >= self.failures:
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(key("breaker", exporter), "opened", now)
            pipe.delete(key("probe", exporter))
            pipe.execute()
            # A failed probe re-opens; a newly reached threshold opens.
            return opened is None or float(opened) + self.cool_down <= now
        return False
