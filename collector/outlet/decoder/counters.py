"""Plain-integer counters for the hot path, folded into a `Stats` once per flush."""

from __future__ import annotations

from collections import defaultdict

from collector.kafka.envelope import bytes_to_address
from collector.metrics.stats import Stats
from collector.outlet.decoder import metrics as m


class Counters:
    __slots__ = ("_errors", "_names", "datagrams", "flows_n", "misc", "templates")

    def __init__(self) -> None:
        self.datagrams: defaultdict[tuple[bytes, int | str], int] = defaultdict(int)
        self.flows_n: defaultdict[tuple[bytes, int | str], int] = defaultdict(int)
        self._errors: defaultdict[tuple[bytes, str], int] = defaultdict(int)
        self.misc: defaultdict[tuple[str, bytes], int] = defaultdict(int)
        self.templates: dict[bytes, int] = {}
        self._names: dict[bytes, str] = {}

    def datagram(self, exporter: bytes, version: int | str) -> None:
        self.datagrams[(exporter, version)] += 1

    def flows(self, exporter: bytes, version: int | str, n: int) -> None:
        self.flows_n[(exporter, version)] += n

    def error(self, exporter: bytes, kind: str) -> None:
        self._errors[(exporter, kind)] += 1

    def expired(self, exporter: bytes) -> None:
        self.misc[(m.PENDING_EXPIRED, exporter)] += 1
        self._errors[(exporter, m.TEMPLATE_MISSING)] += 1

    def pending_decoded(self, exporter: bytes) -> None:
        self.misc[(m.PENDING_DECODED, exporter)] += 1

    def template_update(self, exporter: bytes, count: int, changed: bool = True) -> None:
        if changed:
            self.misc[(m.TEMPLATE_UPDATES, exporter)] += 1
        self.templates[exporter] = count

    def name(self, exporter: bytes) -> str:
        name = self._names.get(exporter)
        if name is None:
            name = self._names[exporter] = bytes_to_address(exporter)
        return name

    def fold(self, stats: Stats) -> None:
        """Add what was counted since the last fold into `stats`, then start again."""
        for (exp, version), n in self.datagrams.items():
            stats.inc(m.DATAGRAMS, (self.name(exp), str(version)), n)
        for (exp, version), n in self.flows_n.items():
            stats.inc(m.FLOWS, (self.name(exp), str(version)), n)
        for (exp, kind), n in self._errors.items():
            stats.inc(m.ERRORS, (self.name(exp), kind), n)
        for (metric, exp), n in self.misc.items():
            stats.inc(metric, (self.name(exp),), n)
        for exp, n in self.templates.items():
            stats.set(m.TEMPLATES, (self.name(exp),), n)
        self.datagrams.clear()
        self.flows_n.clear()
        self._errors.clear()
        self.misc.clear()
        self.templates.clear()

    def errors_total(self) -> int:
        return sum(self._errors.values())
