"""Plain-integer counters for the hot path, folded into a `Stats` once per flush.

Exporter label values are bounded: past `max_series` distinct exporters, the others are
counted under exporter="other". Errors are logged once per exporter and kind per interval.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

from collector.kafka.envelope import bytes_to_address
from collector.metrics.stats import Stats
from collector.outlet.decoder import metrics as m

log = logging.getLogger("collector.outlet.decoder")
LOG_INTERVAL = 60.0  # seconds between two log lines of one exporter and error kind
_DESCRIBE = {
    m.TRUNCATED: "truncated datagram or set",
    m.UNKNOWN_VERSION: "not NetFlow v5/v9, IPFIX or sFlow v5",
    m.TEMPLATE_MISSING: "data whose template never came (dropped after pending-max-age)",
    m.BAD_LENGTH: "malformed length field",
    m.BAD_TEMPLATE: "malformed or oversized template",
    m.NOT_ENCAPSULATED: "flows without the configured encapsulation (dropped)",
    m.INTERNAL: "decoder failure",
}


class Counters:
    __slots__ = (
        "_errors", "_logged", "_names", "datagrams", "flows_n", "max_series", "misc", "plain",
        "templates",
    )  # fmt: skip

    def __init__(self, max_series: int = 1000) -> None:
        self.datagrams: defaultdict[tuple[bytes, int | str], int] = defaultdict(int)
        self.flows_n: defaultdict[tuple[bytes, int | str], int] = defaultdict(int)
        self._errors: defaultdict[tuple[bytes, str], int] = defaultdict(int)
        self.misc: defaultdict[tuple[str, bytes], int] = defaultdict(int)
        self.plain: defaultdict[str, int] = defaultdict(int)
        self.templates: dict[bytes, int] = {}
        self._names: dict[bytes, str] = {}
        self._logged: dict[tuple[bytes, str], float] = {}
        self.max_series = max_series

    def datagram(self, exporter: bytes, version: int | str) -> None:
        self.datagrams[(exporter, version)] += 1

    def flows(self, exporter: bytes, version: int | str, n: int) -> None:
        self.flows_n[(exporter, version)] += n

    def error(self, exporter: bytes, kind: str, n: int = 1) -> None:
        self._errors[(exporter, kind)] += n

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
        """The exporter's label value: its address, or "other" past `max_series` exporters."""
        name = self._names.get(exporter)
        if name is None:
            if len(self._names) >= self.max_series:
                return m.OTHER
            name = self._names[exporter] = bytes_to_address(exporter)
        return name

    def fold(self, stats: Stats) -> None:
        """Add what was counted since the last fold into `stats`, then start again."""
        for (exp, version), n in self.datagrams.items():
            stats.inc(m.DATAGRAMS, (self.name(exp), str(version)), n)
        for (exp, version), n in self.flows_n.items():
            if n:
                stats.inc(m.FLOWS, (self.name(exp), str(version)), n)
        for (exp, kind), n in self._errors.items():
            stats.inc(m.ERRORS, (self.name(exp), kind), n)
        self._log_errors()
        for (metric, exp), n in self.misc.items():
            stats.inc(metric, (self.name(exp),), n)
        for metric, n in self.plain.items():
            stats.inc(metric, (), n)
        others: dict[str, int] = {}
        for exp, n in self.templates.items():
            name = self.name(exp)
            if name == m.OTHER:  # a gauge: the sum over the exporters folded into "other"
                others[name] = others.get(name, 0) + n
            else:
                stats.set(m.TEMPLATES, (name,), n)
        for name, n in others.items():
            stats.set(m.TEMPLATES, (name,), n)
        self.datagrams.clear()
        self.flows_n.clear()
        self._errors.clear()
        self.misc.clear()
        self.plain.clear()
        self.templates.clear()

    def _log_errors(self) -> None:
        """One line per exporter and kind per LOG_INTERVAL, never one per datagram."""
        if not self._errors:
            return
        now = time.monotonic()
        logged = self._logged
        if len(logged) > 10_000:  # bounded under a flood of exporter addresses
            logged.clear()
        for (exp, kind), n in self._errors.items():
            last = logged.get((exp, kind))
            if last is not None and now - last < LOG_INTERVAL:
                continue
            logged[(exp, kind)] = now
            log.warning(
                "exporter %s: %d %s (%s); counted in %s{kind=%r}, logged at most once a minute",
                bytes_to_address(exp), n, "flows" if kind == m.NOT_ENCAPSULATED else
                "datagrams or sets", _DESCRIBE.get(kind, kind), m.ERRORS, kind,
            )  # fmt: skip

    def errors_total(self) -> int:
        return sum(self._errors.values())
