"""Which ClickHouse features the server has, from `SELECT version()`.

Two dialects only: legacy (Debian's 18.16 and anything before 21: no TTL, no
CODEC, no LowCardinality without a setting, no toStartOfInterval, dictionaries
from XML files) and modern (21 and later).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MODERN_MAJOR = 21


@dataclass(frozen=True, slots=True)
class Dialect:
    version: tuple[int, ...]

    @property
    def modern(self) -> bool:
        return self.version[:1] >= (MODERN_MAJOR,)

    @property
    def name(self) -> str:
        return "modern" if self.modern else "legacy"

    # One property per feature so the DDL reads as what it needs, not as version checks.
    @property
    def ttl(self) -> bool:
        return self.modern

    @property
    def codecs(self) -> bool:
        return self.modern

    @property
    def low_cardinality(self) -> bool:
        return self.modern

    @property
    def create_dictionary(self) -> bool:
        return self.modern

    def time_bucket(self, expr: str, seconds: int) -> str:
        """Start of the `seconds`-long interval holding `expr` (a DateTime)."""
        if self.modern:
            return f"toStartOfInterval({expr}, INTERVAL {seconds} SECOND)"
        named = {60: "toStartOfMinute", 300: "toStartOfFiveMinute", 3600: "toStartOfHour"}
        if seconds in named:
            return f"{named[seconds]}({expr})"
        return f"toDateTime(intDiv(toUInt32({expr}), {seconds}) * {seconds})"

    def __str__(self) -> str:
        return f"{'.'.join(map(str, self.version))} ({self.name})"


LEGACY = Dialect((18, 16, 1))
MODERN = Dialect((26, 0))


def parse_version(text: str) -> Dialect:
    """`18.16.1`, `24.8.4.13` -> Dialect; raises ValueError on anything else."""
    m = re.match(r"^\s*(\d+)(?:\.(\d+))*", text)
    if not m:
        raise ValueError(f"not a ClickHouse version: {text!r}")
    return Dialect(tuple(int(p) for p in re.findall(r"\d+", m.group(0))))
