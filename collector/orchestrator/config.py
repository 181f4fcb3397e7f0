"""Orchestrator configuration: section `orchestrator` of the configuration file.

Durations are whole seconds, in the syntax of every duration (`collector/config/types.py`):
a number of seconds or numbers with units (`30s`, `5m`, `6h`, `15d`, `1w`, `1y`, `1h30m`).
Example with the defaults:

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

from typing import Annotated, Literal

from pydantic import Field, model_validator

from collector.config.model import ConfigModel
from collector.config.shared import HTTPConfig
from collector.config.types import WholeDuration, format_duration

PositiveDuration = Annotated[WholeDuration, Field(gt=0)]


def default_rollup_partition(interval: int, floor: int) -> int:
    """About one day of buckets per partition for minute rollups, at most a week, at least `floor`."""
    return max(floor, min(interval * 1440, 7 * 86400))


class ResolutionConfig(ConfigModel):
    """A rollup table: flows summed over `interval`, kept for `retention` (0: forever)."""

    interval: PositiveDuration
    retention: WholeDuration = 0
    # Derived when 0: interval x 1440 (one day for 1m), at most 7 days, at least the flows one.
    partition_interval: WholeDuration = 0


def _default_resolutions() -> list[ResolutionConfig]:
    return [
        ResolutionConfig(interval=60, retention=7 * 86400),
        ResolutionConfig(interval=300, retention=90 * 86400),
        ResolutionConfig(interval=3600, retention=730 * 86400),
    ]


class OrchestratorConfig(ConfigModel):
    http: HTTPConfig = Field(default_factory=lambda: HTTPConfig(listen="127.0.0.1:8082"))
    partition_interval: PositiveDuration = 6 * 3600
    retention: WholeDuration = 15 * 86400
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
