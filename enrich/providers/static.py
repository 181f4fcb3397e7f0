"""Static provider: exporters and interfaces by subnet, from the configuration and from remote
HTTP sources (JSON, or CSV read as a list of row objects) transformed by a jq program.

Remote sources are fetched by each worker process on first use and again every `interval`; until
every source has loaded once the provider raises `NotReady` (the request is retried later rather
than answered "missing"). A source that fails after having loaded keeps its last data.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

import jq
from pydantic import ValidationError

from collector.config.types import (
    EXPORTER_ATTRIBUTES,
    INTERFACE_ATTRIBUTES,
    InterfaceRecord,
    SubnetMap,
)
from enrich.cache import Answer, Exporter, Interface
from enrich.config import RemoteSource, StaticConfig, StaticExporter
from enrich.providers import NotReady, ProviderError

log = logging.getLogger(__name__)


def _interface(rec: InterfaceRecord) -> Interface:
    return Interface(**{a: getattr(rec, a) for a in INTERFACE_ATTRIBUTES})


def parse_source_records(items: list[Any]) -> dict[str, StaticExporter]:
    """jq output -> {subnet: StaticExporter}; raises ProviderError("transform") naming the item."""
    out: dict[str, StaticExporter] = {}
    for n, item in enumerate(items):
        if not isinstance(item, dict) or "exporter" not in item:
            raise ProviderError(
                "transform", f"record {n}: an object with an `exporter` key expected"
            )
        item = dict(item)
        subnet = str(item.pop("exporter"))
        ifaces = item.pop("interfaces", None) or []
        if isinstance(ifaces, list):
            try:
                item["interfaces"] = {int(i.pop("ifindex")): i for i in map(dict, ifaces)}
            except (KeyError, TypeError, ValueError):
                raise ProviderError("transform", f"record {n}: interface without ifindex") from None
        else:
            item["interfaces"] = ifaces
        try:
            out[subnet] = StaticExporter.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise ProviderError("transform", f"record {n}: {where}: {first['msg']}") from None
    try:
        SubnetMap(out)
    except ValueError as exc:
        raise ProviderError("transform", str(exc)) from None
    return out


class RemoteLoader:
    def __init__(self, name: str, source: RemoteSource) -> None:
        self.name = name
        self.source = source
        self.program = jq.compile(source.transform)
        self.data: SubnetMap[StaticExporter] | None = None
        self.loaded_at = 0.0
        self.tried_at = 0.0

    def due(self, now: float) -> bool:
        if self.data is None:
            return now - self.tried_at >= min(1.0, self.source.interval)
        return now - self.loaded_at >= self.source.interval

    def load(self, now: float) -> None:
        self.tried_at = now
        req = urllib.request.Request(self.source.url, headers=self.source.headers)
        try:
            with urllib.request.urlopen(req, timeout=self.source.timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as exc:
            raise ProviderError("http", f"source {self.name}: HTTP {exc.code}") from None
        except TimeoutError:
            raise ProviderError("timeout", f"source {self.name}: no answer") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ProviderError("unreachable", f"source {self.name}: {exc}") from None
        try:
            if self.source.format == "csv":
                doc: Any = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
            else:
                doc = json.loads(body)
            items = self.program.input_value(doc).all()
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProviderError("transform", f"source {self.name}: {exc}") from None
        self.data = SubnetMap(parse_source_records(items))
        self.loaded_at = now
        log.info("static source %s: %d exporter records", self.name, len(self.data))


class StaticProvider:
    name = "static"
    polls_device = False

    def __init__(self, config: StaticConfig, on_error: Any = None) -> None:
        self.exporters = SubnetMap(config.exporters)
        self.loaders = [RemoteLoader(n, s) for n, s in config.sources.items()]
        self.on_error = on_error  # callable(kind) counting source errors

    def in_scope(self, exporter: str) -> bool:
        return True  # answers from configuration and remote sources, never polls the exporter

    def refresh_sources(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for loader in self.loaders:
            if loader.due(now):
                try:
                    loader.load(now)
                except ProviderError as exc:
                    log.warning("static provider: %s", exc)
                    if self.on_error:
                        self.on_error(exc.kind)

    def ready(self) -> bool:
        return all(loader.data is not None for loader in self.loaders)

    def lookup(self, exporter: str) -> StaticExporter | None:
        found = self.exporters.lookup(exporter)
        if found is not None:
            return found
        for loader in self.loaders:
            if loader.data is not None:
                found = loader.data.lookup(exporter)
                if found is not None:
                    return found
        return None

    def query(self, exporter: str, ifindexes: set[int]) -> Answer | None:
        self.refresh_sources()
        if not self.ready():
            raise NotReady("static provider: remote sources not loaded yet")
        rec = self.lookup(exporter)
        if rec is None:
            return None
        answer = Answer(
            exporter=Exporter(**{f: getattr(rec, f) for f in EXPORTER_ATTRIBUTES}),
            provider=self.name,
        )
        for ifindex in ifindexes:
            iface = rec.interfaces.get(ifindex) or rec.default
            if iface is not None:
                answer.interfaces[ifindex] = _interface(iface)
            elif not rec.skip_missing_interfaces:
                answer.interfaces[ifindex] = None
        answer.interface_sources = {i: self.name for i in answer.interfaces}
        return answer

    def close(self) -> None:
        return
