"""Metadata providers: each answers for an exporter (and some of its ifIndexes) or skips it.

A provider is built from its config section and exposes:
- `name`: `static`, `snmp` or `gnmi` (also the `provider` label of the error metrics);
- `polls_device`: whether a poll talks to the exporter (then the per-exporter breaker applies);
- `in_scope(exporter)`: whether this provider may poll the exporter at all. A provider that
  polls devices answers True only inside the subnets its configuration gives credentials for
  (SNMP communities and security-parameters, gNMI targets): the worker never sends a packet
  to any other address, whatever an outlet asks (`flowweir_enrich_provider_out_of_scope_total`);
- `query(exporter, ifindexes) -> Answer | None`: None skips the exporter (not mine); an `Answer`
  may leave some ifIndexes out, which the next provider then gets; raises `ProviderError`
  (with a bounded `kind`) when the exporter should have answered and did not, or `NotReady`;
- `close()`.
"""

from __future__ import annotations

from typing import Protocol

from enrich.cache import Answer

ERROR_KINDS = ("timeout", "unreachable", "auth", "protocol", "http", "transform", "internal")


class ProviderError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind if kind in ERROR_KINDS else "internal"


class NotReady(Exception):
    """The provider cannot answer yet (static: its remote sources have not loaded once)."""


class Provider(Protocol):
    name: str
    polls_device: bool

    def in_scope(self, exporter: str) -> bool: ...

    def query(self, exporter: str, ifindexes: set[int]) -> Answer | None: ...

    def close(self) -> None: ...
