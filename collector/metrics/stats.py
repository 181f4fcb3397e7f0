"""Cheap per-process metric values, aggregated by the parent process of a daemon.

Hot paths keep plain integers and fold them into a `Stats` now and then; a
`Stats` is a dict of (metric, label values) -> value, which a worker process
ships to its parent as a snapshot (see `aggregate.py`). Prometheus exposition is
done once, in the parent, by prometheus_client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge"]
LabelValues = tuple[str, ...]
Snapshot = dict[tuple[str, LabelValues], float]


@dataclass(frozen=True, slots=True)
class MetricDef:
    """One metric family. Counters are named without `_total`; exposition adds it."""

    name: str
    help: str
    kind: Kind
    labels: tuple[str, ...] = ()


class MetricSet:
    """The metric families a component declares; shared by the worker and its parent."""

    def __init__(self, *defs: MetricDef) -> None:
        self.defs: dict[str, MetricDef] = {}
        for d in defs:
            self.add(d)

    def add(self, d: MetricDef) -> None:
        if d.kind == "counter" and d.name.endswith("_total"):
            raise ValueError(f"counter {d.name}: leave `_total` to the exposition")
        self.defs[d.name] = d

    def __add__(self, other: MetricSet) -> MetricSet:
        return MetricSet(*self.defs.values(), *other.defs.values())


class Stats:
    """Values of one process. Not thread-safe by design: one writer thread per Stats."""

    __slots__ = ("metrics", "values")

    def __init__(self, metrics: MetricSet) -> None:
        self.metrics = metrics
        self.values: Snapshot = {}

    def inc(self, name: str, labels: LabelValues = (), value: float = 1) -> None:
        key = (name, labels)
        self.values[key] = self.values.get(key, 0) + value

    def set(self, name: str, labels: LabelValues = (), value: float = 0) -> None:
        self.values[(name, labels)] = value

    def get(self, name: str, labels: LabelValues = ()) -> float:
        return self.values.get((name, labels), 0)

    def snapshot(self) -> Snapshot:
        return dict(self.values)
