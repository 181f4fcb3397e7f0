"""What the outlets know about each exporter: templates, versions, decoder errors.

The outlets keep this in memory and publish it on their operations endpoint
(`flowweir_outlet_decoder_*{exporter=...}`); the console reads those endpoints
(`console.outlet-endpoints`, default: `outlet.http.listen` of the same file) when the
exporters page asks, and sums over outlets. An endpoint that does not answer is named in
the answer and counted; the page still shows what ClickHouse knows.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

P = "flowweir_outlet_decoder_"


@dataclass
class Decoding:
    templates: int = 0
    versions: set[str] = field(default_factory=set)
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class OutletState:
    exporters: dict[str, Decoding] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # one line per endpoint that failed


def _url(endpoint: str) -> str:
    base = endpoint if "://" in endpoint else f"http://{endpoint}"
    return base.rstrip("/") + "/api/v0/outlet/metrics"


def read_outlets(endpoints: list[str], timeout: float = 2.0) -> OutletState:
    state = OutletState()
    for endpoint in endpoints:
        try:
            with urllib.request.urlopen(_url(endpoint), timeout=timeout) as resp:
                text = resp.read().decode()
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            state.problems.append(f"outlet {endpoint}: no metrics ({reason})")
            continue
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                exporter = sample.labels.get("exporter")
                if exporter is None or not sample.name.startswith(P):
                    continue
                d = state.exporters.setdefault(exporter, Decoding())
                what = sample.name[len(P) :]
                if what == "templates":
                    d.templates += int(sample.value)
                elif what == "datagrams_total" and sample.value:
                    d.versions.add(sample.labels.get("version", "?"))
                elif what == "errors_total" and sample.value:
                    kind = sample.labels.get("kind", "?")
                    d.errors[kind] = d.errors.get(kind, 0) + int(sample.value)
    return state
