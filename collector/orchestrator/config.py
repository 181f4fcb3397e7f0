"""Orchestrator configuration: section `orchestrator` of the configuration file.

Durations are whole seconds, or strings with units (`30s`, `5m`, `6h`, `15d`, `1w`,
combinations such as `1h30m`). Example with the defaults:

```yaml
orchestrator:
  http: {listen: 127.0.0.1:8082}
  partition-interval: 6h        # `flows` partitions; retention drops whole partitions
  retention: 15d                # `flows` retention
  resolutions:                  # one rollup table per entry: flows_1m0s, flows_5m0s, flows_1h0m0s
    - {interval: 1m, retention: 7d}                 # partition-interval: 1d (derived)
    - {interval: 5m, retention: 90d}
    - {interval: 1h, retention: 2y, partition-interval: 7d}
  ttl: auto                     # auto: TTL if the server has it; always: require it; never: timer only
  retention-check-interval: 1h  # how often expired partitions are dropped (when TTL is not used)
  dictionaries-path: /etc/clickhouse-server   # legacy servers: where dictionary XML/CSV files go
  startup-timeout: 60s          # --once: give up when ClickHouse/Kafka stay unreachable this long
  retry-max-interval: 60s       # longest wait between two attempts against an unreachable server
```
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, model_validator

from collector.config.model import ConfigModel
from collector.config.shared import HTTPConfig

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "y": 365 * 86400}
_PART = re.compile(r"(\d+)\s*([ywdhms])")


def parse_duration(value: Any) -> Any:
    """`15d`, `1h30m`, `90s` or a number of seconds into whole seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value != int(value):
            raise ValueError(f"durations are whole seconds (got {value!r})")
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if text.isdigit():
            return int(text)
        parts = _PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return sum(int(n) * _UNITS[u] for n, u in parts)
    raise ValueError(f"not a duration: {value!r} (write seconds or e.g. 30s, 5m, 6h, 15d, 1w)")


def format_duration(seconds: int) -> str:
    """The shortest string `parse_duration` reads back (`1d`, `6h`, `1h30m`, `0s`)."""
    if seconds == 0:
        return "0s"
    out = ""
    for unit in ("d", "h", "m", "s"):
        n, seconds = divmod(seconds, _UNITS[unit])
        if n:
            out += f"{n}{unit}"
    return out


Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(ge=0),
]
PositiveDuration = Annotated[
    int,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(gt=0),
]


def default_rollup_partition(interval: int, floor: int) -> int:
    """About one day of buckets per partition for minute rollups, at most a week, at least `floor`."""
    return max(floor, min(interval * 1440, 7 * 86400))


class ResolutionConfig(ConfigModel):
    """A rollup table: flows summed over `interval`, kept for `retention` (0: forever)."""

    interval: PositiveDuration
    retention: Duration = 0
    # Derived when 0: interval x 1440 (one day for 1m), at most 7 days, at least the flows one.
    partition_interval: Duration = 0


def _default_resolutions() -> list[ResolutionConfig]:
    return [
        ResolutionConfig(interval=60, retention=7 * 86400),
        ResolutionConfig(interval=300, retention=90 * 86400),
        ResolutionConfig(interval=3600, retention=730 * 86400),
    ]


class OrchestratorConfig(ConfigModel):
    http: HTTPConfig = Field(default_factory=lambda: HTTPConfig(listen="127.0.0.1:8082"))
    partition_interval: PositiveDuration = 6 * 3600
    retention: Duration = 15 * 86400
    resolutions: list[ResolutionConfig] = Field(default_factory=_default_resolutions)
    ttl: Literal["auto", "always", "never"] = "auto"
    retention_check_interval: PositiveDuration = 3600
    dictionaries_path: str = "/etc/clickhouse-server"
    startup_timeout: PositiveDuration = 60
    retry_max_interval: PositiveDuration = 60

    @model_validator(mode="after")
    def _check(self) -> OrchestratorConfig:
        if self.partition_interval < 60:
            raise ValueError("partition-interval must be at least 1m")
        seen: set[int] = set()
        for r in self.resolutions:
            if r.interval in seen:
                raise ValueError(
                    f"resolutions: interval {format_duration(r.interval)} listed twice"
                )
            seen.add(r.interval)
            if not r.partition_interval:
                r.partition_interval = default_rollup_partition(r.interval, self.partition_interval)
            if r.partition_interval % r.interval:
                raise ValueError(
                    f"resolutions: partition-interval {format_duration(r.partition_interval)} "
                    f"is not a multiple of interval {format_duration(r.interval)}"
                )
        return self
