"""Enrichment of a decoded batch: metadata, sampling rate, classifiers, networks, AS numbers.

Work is done per distinct value, never per flow: distinct exporters, distinct
(exporter, ifIndex, VLAN) interfaces and distinct addresses are found with
NumPy, looked up or classified once (and cached), and spread back over the
flows with the inverse indices.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from collector.config.types import EXPORTER_ATTRIBUTES, INTERFACE_STRING_ATTRIBUTES, SubnetMap
from collector.metrics.stats import MetricDef, MetricSet, Stats
from collector.outlet.config import OutletConfig
from collector.outlet.core.classify import (
    ExporterClassifier,
    InterfaceClassifier,
    address_text,
    is_private_asn,
)
from collector.outlet.core.networks import NetworkLookup
from collector.outlet.core.strings import ColumnData, Strings, fold
from collector.outlet.core.trust import TRUST_METRICS, ExporterTrust
from collector.outlet.decoder.batch import FlowBatch
from collector.schema.columns import COLUMNS, ENRICH_COLUMNS

log = logging.getLogger(__name__)

P = "flowweir_outlet_core_"
CORE_METRICS = (
    MetricSet(
        MetricDef(P + "flows_in", "Decoded flows entering enrichment.", "counter", ("exporter",)),
        MetricDef(P + "flows_out", "Flows kept for ClickHouse.", "counter", ("exporter",)),
        MetricDef(
            P + "flows_rejected",
            "Flows dropped, by reason: no_sampling_rate (fix the exporter or set default-sampling-rate), "
            "classifier (a reject rule), metadata (missing with outlet.enrichment.missing: reject).",
            "counter",
            ("exporter", "reason"),
        ),
    )
    + TRUST_METRICS
)

_BOUNDARY = {"": 0, "undefined": 0, "external": 1, "internal": 2}


@dataclass
class InterfaceInfo:
    name: str = ""
    description: str = ""
    connectivity: str = ""
    provider: str = ""
    speed: int = 0
    boundary: int = 0
    rejected: bool = False  # by a classifier
    missing: bool = False  # no metadata and outlet.enrichment.missing: reject


class Enricher:
    def __init__(self, config: OutletConfig, stats: Stats, metadata: Any | None = None) -> None:
        self.config = config
        self.stats = stats
        self.metadata = metadata  # enrich.client.MetadataClient, or None
        self.exporter_rules = ExporterClassifier(config.exporter_classifiers)
        self.interface_rules = InterfaceClassifier(config.interface_classifiers)
        self.override = SubnetMap(config.override_sampling_rate)
        self.default = SubnetMap(config.default_sampling_rate)
        self.networks = NetworkLookup(config.networks, config.geoip)
        self.asn_providers = config.asn_providers
        self._seen_pairs: set[tuple[str, int]] = set()
        # Metadata is looked up only for exporter addresses datagrams came from (trust.py):
        # call `observe(envelope)` for every envelope before it is decoded.
        self.trust = ExporterTrust(config.trust_agent_address_from, stats)
        self.observe = self.trust.observe

    def close(self) -> None:
        self.networks.close()

    # --- per distinct exporter -------------------------------------------------
    def _exporter_fields(
        self, address: str, ifindex: int, trusted: bool
    ) -> tuple[list[str], int, int, bool]:
        """(attributes, override rate, default rate, rejected) of one exporter.

        The exporter record comes with any of its interfaces' answers: `ifindex` is one
        the batch uses, so the interface lookup that follows is served from the local cache.
        """
        attrs: dict[str, str] = dict.fromkeys(EXPORTER_ATTRIBUTES, "")
        if self.metadata is not None and trusted:
            md = self.metadata.lookup(address, ifindex)
            # The exporter record stands even when that ifIndex is unknown (found=False).
            if md is not None:
                attrs.update({a: getattr(md.exporter, a) for a in EXPORTER_ATTRIBUTES})
        rejected = False
        if self.exporter_rules:
            c = self.exporter_rules.classify(address, attrs["name"] or address)
            for k, v in c.values.items():
                if not attrs.get(k):
                    attrs[k] = v
            rejected = c.rejected
        return (
            [attrs[a] for a in EXPORTER_ATTRIBUTES],
            self.override.lookup(address) or 0,
            self.default.lookup(address) or 0,
            rejected,
        )

    def _interface(
        self, address: str, exporter_name: str, ifindex: int, vlan: int, trusted: bool
    ) -> InterfaceInfo:
        info = InterfaceInfo()
        if self.metadata is not None and ifindex and trusted:
            md = self.metadata.lookup(address, ifindex)
            if md is None:
                info.missing = True
            elif md.found:
                i = md.interface
                info = InterfaceInfo(
                    i.name,
                    i.description,
                    i.connectivity,
                    i.provider,
                    i.speed,
                    _BOUNDARY.get(i.boundary, 0),
                )
        if self.interface_rules:
            c = self.interface_rules.classify(
                address, exporter_name, info.name, info.description, info.speed, vlan
            )
            v = c.values
            info.name = info.name or v.get("name", "")
            info.description = info.description or v.get("description", "")
            info.connectivity = v.get("connectivity", info.connectivity)
            info.provider = v.get("provider", info.provider)
            if "boundary" in v:
                info.boundary = _BOUNDARY.get(v["boundary"], 0)
            info.rejected = c.rejected
        return info

    def _prefetch(
        self, exporters: list[str], trusted: list[bool], exp_idx: np.ndarray, ifindexes: np.ndarray
    ) -> None:
        """Ask the workers once for every new interface of the batch (one poll per exporter)."""
        wanted: dict[str, set[int]] = {}
        for e, i in zip(exp_idx.tolist(), ifindexes.tolist(), strict=True):
            pair = (exporters[e], i)
            if i and trusted[e] and pair not in self._seen_pairs:
                self._seen_pairs.add(pair)
                wanted.setdefault(exporters[e], set()).add(i)
        if len(self._seen_pairs) > 1_000_000:
            self._seen_pairs.clear()
        for exporter, ifs in wanted.items():
            self.metadata.prefetch(exporter, sorted(ifs))  # type: ignore[union-attr]

    # --- the batch --------------------------------------------------------------
    def enrich(self, batch: FlowBatch) -> dict[str, ColumnData]:
        """All COLUMNS for the flows kept (rejected flows are counted and removed)."""
        n = batch.n
        cols: dict[str, Any] = dict(batch.columns)  # ndarray, Strings for string columns
        if n == 0:
            return {c.name: np.zeros(0, dtype=c.dtype) for c in COLUMNS}
        keep = np.ones(n, dtype=bool)
        reasons: list[tuple[np.ndarray, str]] = []

        uniq_exp, first, exp_inv = unique_addresses(cols["ExporterAddress"])
        exporters = [address_text(bytes(a)) for a in uniq_exp]
        trusted = self._trusted(uniq_exp, exp_inv)
        probe = np.where(
            cols["InIf"][first] != 0, cols["InIf"][first], cols["OutIf"][first]
        ).tolist()
        exp_rows = [
            self._exporter_fields(a, i, t)
            for a, i, t in zip(exporters, probe, trusted, strict=True)
        ]
        for j, attr in enumerate(EXPORTER_ATTRIBUTES):
            cols[f"Exporter{attr.capitalize()}"] = Strings.from_keys(
                [r[0][j] for r in exp_rows], exp_inv
            )

        # Sampling rate: override, else the exporter's, else the default; none is a rejection.
        override = np.array([r[1] for r in exp_rows], dtype=np.uint64)[exp_inv]
        default = np.array([r[2] for r in exp_rows], dtype=np.uint64)[exp_inv]
        rate = cols["SamplingRate"].astype(np.uint64, copy=False)
        rate = np.where(override > 0, override, np.where(rate == 0, default, rate))
        cols["SamplingRate"] = rate
        no_rate = rate == 0
        if no_rate.any():
            reasons.append((no_rate, "no_sampling_rate"))
        exp_rejected = np.array([r[3] for r in exp_rows], dtype=bool)[exp_inv]
        if exp_rejected.any():
            reasons.append((exp_rejected, "classifier"))

        exporter_names = cols["ExporterName"]
        names_u = [r[0][0] for r in exp_rows]
        for side, if_col, vlan_col in (("In", "InIf", "SrcVlan"), ("Out", "OutIf", "DstVlan")):
            ifidx = cols[if_col].astype(np.uint64)
            vlan = cols[vlan_col].astype(np.uint64) & 0xFFF
            key = (exp_inv.astype(np.uint64) << np.uint64(44)) | (vlan << np.uint64(32)) | ifidx
            uniq, inv = np.unique(key, return_inverse=True)
            u_exp = (uniq >> np.uint64(44)).astype(np.int64)
            u_vlan = ((uniq >> np.uint64(32)) & np.uint64(0xFFF)).astype(np.int64)
            u_if = (uniq & np.uint64(0xFFFFFFFF)).astype(np.int64)
            if self.metadata is not None:
                self._prefetch(exporters, trusted, u_exp, u_if)
            infos = [
                self._interface(exporters[e], names_u[e] or exporters[e], i, v, trusted[e])
                for e, i, v in zip(u_exp.tolist(), u_if.tolist(), u_vlan.tolist(), strict=True)
            ]
            for if_attr in INTERFACE_STRING_ATTRIBUTES:
                cols[f"{side}If{if_attr.capitalize()}"] = Strings.from_keys(
                    [getattr(x, if_attr) for x in infos], inv
                )
            cols[f"{side}IfSpeed"] = np.array([x.speed for x in infos], dtype=np.uint32)[inv]
            cols[f"{side}IfBoundary"] = np.array([x.boundary for x in infos], dtype=np.uint8)[inv]
            rejected = np.array([x.rejected for x in infos], dtype=bool)[inv]
            if rejected.any():
                reasons.append((rejected, "classifier"))
            missing = np.array([x.missing for x in infos], dtype=bool)[inv]
            if missing.any():
                reasons.append((missing, "metadata"))
        del exporter_names

        self._networks_and_asn(cols, n)

        for mask, reason in reasons:
            newly = mask & keep
            if newly.any():
                self._count(
                    exporters, exp_inv[newly], "flowweir_outlet_core_flows_rejected", reason
                )
            keep &= ~mask
        self._count(exporters, exp_inv, "flowweir_outlet_core_flows_in")
        if not keep.all():
            cols = {k: v[keep] for k, v in cols.items()}
            exp_inv = exp_inv[keep]
        self._count(exporters, exp_inv, "flowweir_outlet_core_flows_out")
        return cols

    def _trusted(self, uniq_exp: np.ndarray, exp_inv: np.ndarray) -> list[bool]:
        """Per distinct exporter: may its metadata be looked up? Untrusted flows are counted."""
        self.trust.fold()
        if self.metadata is None:
            return [True] * len(uniq_exp)
        trusted = [self.trust.trusted(bytes(a).ljust(16, b"\0")) for a in uniq_exp]
        if not all(trusted):
            untrusted = int((~np.array(trusted, dtype=bool))[exp_inv].sum())
            self.stats.inc(P + "untrusted_flows", ("agent_not_source",), untrusted)
        return trusted

    def _networks_and_asn(self, cols: dict[str, Any], n: int) -> None:
        empty = Strings.constant("", n)
        net = self.networks
        for side in ("Src", "Dst"):
            if net.enabled:
                uniq, _, by_address = unique_addresses(cols[f"{side}Addr"])
                # Thousands of addresses, a few networks: fold equal rows before the columns.
                index: dict[tuple[Any, ...], int] = {}
                row_of = fold((net.lookup(bytes(a)) for a in uniq), len(uniq), index)
                rows = list(index)
                inv = row_of[by_address]
                for j, attr in enumerate(net.ATTRS):
                    cols[f"{side}Net{attr}"] = Strings.from_keys([r[j] for r in rows], inv)
                asn_u = np.array([r[-1] for r in rows], dtype=np.uint32)
            else:
                for attr in NetworkLookup.ATTRS:
                    cols[f"{side}Net{attr}"] = empty
                asn_u = None
            asn = cols[f"{side}AS"].astype(np.uint32)
            result = np.zeros(n, dtype=np.uint32)
            for provider in self.asn_providers:
                todo = result == 0
                if not todo.any():
                    break
                if provider == "flow":
                    result = np.where(todo, asn, result)
                elif provider == "flow-except-private":
                    public = (
                        ~np.vectorize(is_private_asn, otypes=[bool])(asn) if n else asn.astype(bool)
                    )
                    result = np.where(todo & public, asn, result)
                elif provider == "geoip" and asn_u is not None and net.has_asn:
                    result = np.where(todo, asn_u[inv], result)
            cols[f"{side}AS"] = result

    def _count(
        self, exporters: list[str], idx: np.ndarray, metric: str, reason: str | None = None
    ) -> None:
        counts = np.bincount(idx, minlength=len(exporters))
        for e, c in zip(exporters, counts.tolist(), strict=True):
            if c:
                self.stats.inc(metric, (e, reason) if reason else (e,), c)


# Multiplier of the 64-bit hash of an address (golden ratio, odd): mixes the high half in.
_MIX = np.uint64(0x9E3779B97F4A7C15)


def unique_addresses(addresses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct 16-byte addresses, an index of each, and each row's position among them.

    `np.unique` sorts 16-byte strings at ~250 ns a row; one uint64 per address sorts
    at ~40 ns. When all addresses share their first 8 bytes (IPv4, or one IPv6 /64)
    the last 8 are that key; otherwise a hash of both halves is, and the result is
    checked: on a collision (never seen, but possible) the exact sort is used.
    """
    flat = np.ascontiguousarray(addresses, dtype="S16")
    halves = flat.view(np.uint64).reshape(-1, 2)
    exact = len(flat) == 0 or bool((halves[:, 0] == halves[0, 0]).all())
    if exact:
        key = halves[:, 1]
    else:
        with np.errstate(over="ignore"):
            key = halves[:, 0] * _MIX + halves[:, 1]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    uniq = flat[first]
    if not exact and not np.array_equal(uniq[inverse], flat):
        uniq, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    return uniq, first, inverse


ENRICH_COLUMN_NAMES = tuple(c.name for c in ENRICH_COLUMNS)
