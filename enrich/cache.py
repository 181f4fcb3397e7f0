"""The metadata cache in Redis: the contract between the enrichment workers and the outlets.

Key layout, version 1 (every key starts with `flowweir:md:v1:`; a change of layout
bumps the version so that old and new readers never misread each other's records):

| key | type | content |
|---|---|---|
| `exp:{exporter}` | hash | exporter record: `name group role site region tenant` (strings), `provider` (who answered), `state` (`ok` or `missing`: no provider knows it), `updated` (unix time of the last poll that answered) |
| `if:{exporter}` | hash | field = ifIndex (decimal); value = JSON `{"name", "description", "speed" (Mbit/s), "provider", "connectivity", "boundary", "source" (provider), "updated"}`, or a negative answer `{"missing": true, "reason": "...", "updated"}` |
| `exporters` | zset | exporter -> unix time of its last poll (answered or not): what `cache-refresh` re-polls |
| `access` | zset | `{exporter}` and `{exporter}|{ifIndex}` -> unix time an outlet last read it: what `cache-duration` evicts |
| `wanted:{exporter}` | set | ifIndexes outlets asked for and that the next poll must include |
| `pending:{exporter}` | string, TTL `outlet.enrichment.request-ttl` (set by an outlet) or `enrich.request-ttl` (by a worker) | a refresh task is queued or running (deduplicates requests) |
| `breaker:{exporter}` | hash | `failures` (consecutive), `opened` (unix time the breaker opened) |
| `probe:{exporter}` | string, TTL `breaker.cool-down` | the one probe allowed after the cool-down is taken |
| `gnmi:{exporter}` | string | JSON of the last interface state read from the gNMI target (served while it is unreachable) |
| `metrics` | hash | field `{host}:{pid}` -> JSON metric snapshot of one worker process |

`{exporter}` is the exporter's IP address in its canonical text form (IPv4-mapped IPv6 as IPv4).
Exporter addresses are normalised with `collector.config.types.normalize_address`; the
attributes are `EXPORTER_ATTRIBUTES` and `INTERFACE_ATTRIBUTES` of that module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from collector.config.types import EXPORTER_ATTRIBUTES, INTERFACE_TEXT_ATTRIBUTES

PREFIX = "flowweir:md:v1:"


# The records' fields are EXPORTER_ATTRIBUTES and INTERFACE_ATTRIBUTES (tests/config checks it).
@dataclass(frozen=True, slots=True)
class Exporter:
    name: str = ""
    group: str = ""
    role: str = ""
    site: str = ""
    region: str = ""
    tenant: str = ""


@dataclass(frozen=True, slots=True)
class Interface:
    name: str = ""
    description: str = ""
    speed: int = 0  # Mbit/s
    provider: str = ""
    connectivity: str = ""
    boundary: str = ""


@dataclass(slots=True)
class Answer:
    """What the providers found for one exporter: its record (None: unknown) and, per requested
    ifIndex, an interface (None: the exporter has no such ifIndex)."""

    exporter: Exporter | None = None
    interfaces: dict[int, Interface | None] = field(default_factory=dict)
    provider: str = ""
    interface_sources: dict[int, str] = field(default_factory=dict)
    # Set when the answer comes from state kept from an earlier poll because this one failed.
    error: str = ""


def key(kind: str, exporter: str = "") -> str:
    return f"{PREFIX}{kind}:{exporter}" if exporter else f"{PREFIX}{kind}"


def interface_from_json(raw: bytes | str | None) -> tuple[bool, Interface | None, float]:
    """(known, interface or None when negative, updated) from an `if:` hash value."""
    if raw is None:
        return False, None, 0.0
    data = json.loads(raw)
    updated = float(data.get("updated", 0.0))
    if data.get("missing"):
        return True, None, updated
    text = {a: data.get(a, "") for a in INTERFACE_TEXT_ATTRIBUTES}
    return True, Interface(**text, speed=int(data.get("speed", 0))), updated


def exporter_from_hash(data: dict[bytes, bytes]) -> tuple[bool, Exporter | None, float]:
    """(known, exporter or None when negative, updated) from an `exp:` hash."""
    if not data:
        return False, None, 0.0
    d = {k.decode(): v.decode() for k, v in data.items()}
    updated = float(d.get("updated", 0.0))
    if d.get("state") == "missing":
        return True, None, updated
    return True, Exporter(**{f: d.get(f, "") for f in EXPORTER_ATTRIBUTES}), updated


class MetadataCache:
    """Reads and writes the layout above. Built with a `redis.Redis` (bytes responses)."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    # ---- worker side -------------------------------------------------------------------
    def store(self, exporter: str, answer: Answer, now: float | None = None) -> None:
        """Write a poll's answer. Positive records are never replaced by a negative answer for
        the same ifIndex unless the provider positively said the ifIndex does not exist."""
        now = time.time() if now is None else now
        pipe = self.redis.pipeline(transaction=False)
        if answer.exporter is not None:
            mapping: dict[str, Any] = asdict(answer.exporter)
            mapping.update(provider=answer.provider, state="ok", updated=now)
            pipe.delete(key("exp", exporter))
            pipe.hset(key("exp", exporter), mapping=mapping)  # type: ignore[arg-type]
        else:
            pipe.delete(key("exp", exporter))
            pipe.hset(key("exp", exporter), mapping={"state": "missing", "updated": now})
        values: dict[str | bytes, str] = {}
        for ifindex, iface in answer.interfaces.items():
            if iface is None:
                rec: dict[str, Any] = {"missing": True, "reason": "unknown", "updated": now}
            else:
                rec = asdict(iface)
                rec.update(source=answer.interface_sources.get(ifindex, ""), updated=now)
            values[str(ifindex)] = json.dumps(rec)
        if values:
            pipe.hset(key("if", exporter), mapping=values)  # type: ignore[arg-type]
        pipe.zadd(key("exporters"), {exporter: now})
        pipe.execute()

    def store_unreachable(self, exporter: str, ifindexes: set[int], reason: str) -> None:
        """After a failed poll: answer "missing" for ifIndexes (and the exporter) that have no
        record yet so that waiting outlets stop waiting; existing records are kept as they are."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.hsetnx(key("exp", exporter), "state", "missing")
        pipe.hsetnx(key("exp", exporter), "updated", now)
        rec = json.dumps({"missing": True, "reason": reason, "updated": now})
        for ifindex in ifindexes:
            pipe.hsetnx(key("if", exporter), str(ifindex), rec)
        pipe.zadd(key("exporters"), {exporter: now})
        pipe.execute()

    def take_wanted(self, exporter: str) -> set[int]:
        """The ifIndexes outlets asked for since the last poll, plus those already cached."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.smembers(key("wanted", exporter))
        pipe.delete(key("wanted", exporter))
        pipe.hkeys(key("if", exporter))
        wanted, _, known = pipe.execute()
        return {int(x) for x in wanted} | {int(x) for x in known}

    def has_wanted(self, exporter: str) -> bool:
        return bool(self.redis.scard(key("wanted", exporter)))

    def release(self, exporter: str) -> None:
        self.redis.delete(key("pending", exporter))

    def claim(self, exporter: str, ttl: float) -> bool:
        """Mark a refresh of `exporter` as queued; False when one already is."""
        return bool(
            self.redis.set(key("pending", exporter), b"1", nx=True, px=max(1, int(ttl * 1000)))
        )

    def stale(self, older_than: float) -> list[str]:
        raw = self.redis.zrangebyscore(key("exporters"), "-inf", time.time() - older_than)
        return [x.decode() for x in raw]

    def evict(self, not_read_for: float) -> list[str]:
        """Remove exporters and interfaces no outlet read for `not_read_for` seconds; returns the
        evicted exporters."""
        cutoff = time.time() - not_read_for
        members = [m.decode() for m in self.redis.zrangebyscore(key("access"), "-inf", cutoff)]
        if not members:
            return []
        evicted = []
        pipe = self.redis.pipeline(transaction=False)
        for member in members:
            exporter, sep, ifindex = member.partition("|")
            if sep:
                pipe.hdel(key("if", exporter), ifindex)
            else:
                evicted.append(exporter)
                for kind in ("exp", "if", "wanted", "gnmi", "breaker", "probe"):
                    pipe.delete(key(kind, exporter))
                pipe.zrem(key("exporters"), exporter)
        pipe.zrem(key("access"), *members)
        pipe.execute()
        return evicted

    def save_gnmi_state(self, exporter: str, state: dict[str, Any]) -> None:
        self.redis.set(key("gnmi", exporter), json.dumps(state))

    def load_gnmi_state(self, exporter: str) -> dict[str, Any] | None:
        raw = self.redis.get(key("gnmi", exporter))
        return json.loads(raw) if raw else None

    # ---- outlet side -------------------------------------------------------------------
    def read(
        self, exporter: str, ifindex: int, touch: bool = True
    ) -> tuple[tuple[bool, Exporter | None, float], tuple[bool, Interface | None, float]]:
        """One round trip: the exporter and interface records, and their access times bumped."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(key("exp", exporter))
        pipe.hget(key("if", exporter), str(ifindex))
        if touch:
            now = time.time()
            pipe.zadd(key("access"), {exporter: now, f"{exporter}|{ifindex}": now})
        res = pipe.execute()
        return exporter_from_hash(res[0]), interface_from_json(res[1])

    def want(self, exporter: str, ifindex: int, ttl: float) -> bool:
        """Ask for `ifindex`; True when the caller must queue a refresh task (none is pending)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(key("wanted", exporter), str(ifindex))
        pipe.set(key("pending", exporter), b"1", nx=True, px=max(1, int(ttl * 1000)))
        _, claimed = pipe.execute()
        return bool(claimed)

    def want_many(self, exporter: str, ifindexes: Iterable[int], ttl: float) -> bool:
        """Ask for several ifIndexes not cached yet; True when the caller must queue a refresh."""
        wanted = [str(i) for i in ifindexes]
        if not wanted:
            return False
        known = self.redis.hmget(key("if", exporter), wanted)
        missing = [i for i, k in zip(wanted, known, strict=True) if k is None]
        if not missing:
            return False
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(key("wanted", exporter), *missing)
        pipe.set(key("pending", exporter), b"1", nx=True, px=max(1, int(ttl * 1000)))
        _, claimed = pipe.execute()
        return bool(claimed)

    # ---- tools -------------------------------------------------------------------------
    def dump(self, exporter: str) -> dict[str, Any]:
        """Everything the cache holds for one exporter (for `flowweir enrich show`)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(key("exp", exporter))
        pipe.hgetall(key("if", exporter))
        pipe.zscore(key("access"), exporter)
        pipe.hgetall(key("breaker", exporter))
        pipe.exists(key("pending", exporter))
        exp, ifs, access, breaker, pending = pipe.execute()
        return {
            "exporter": {k.decode(): v.decode() for k, v in exp.items()},
            "interfaces": {
                int(k): json.loads(v) for k, v in sorted(ifs.items(), key=lambda kv: int(kv[0]))
            },
            "last-access": access,
            "breaker": {k.decode(): v.decode() for k, v in breaker.items()},
            "refresh-pending": bool(pending),
        }

    def refresh_ages(self) -> dict[str, float]:
        now = time.time()
        return {
            m.decode(): now - score
            for m, score in self.redis.zrange(key("exporters"), 0, -1, withscores=True)
        }
