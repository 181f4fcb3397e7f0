"""Outlet configuration: Kafka consumption, batching into ClickHouse, enrichment."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from collector.config.model import ConfigModel
from collector.config.shared import EnrichmentClientConfig, HTTPConfig
from collector.config.types import (
    Duration,
    ExporterAttribute,
    InterfaceTextAttribute,
    SubnetKeyed,
    SubnetList,
)
from collector.outlet.decoder.config import DecoderConfig


def _compile(pattern: str | None) -> str | None:
    """A regex condition; a bad one is a configuration error naming the pattern."""
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
    return pattern


class ExporterMatch(ConfigModel):
    """All conditions given must hold. Regexes use Python syntax and must match from the start."""

    name: str | None = None  # regex on the exporter name
    ip: SubnetList | None = None  # subnets the exporter address must be in

    _regex = field_validator("name")(_compile)


class InterfaceMatch(ConfigModel):
    """All conditions given must hold. Regexes use Python syntax and must match from the start."""

    exporter: str | None = None  # regex on the exporter name
    ip: SubnetList | None = None  # subnets the exporter address must be in
    description: str | None = None  # regex on the interface description
    interface: str | None = None  # regex on the interface name
    speed: str | None = None  # ">=10000", "<1000", "=100000" (Mbit/s)
    vlan: list[int] | None = None  # the flow's VLAN on that interface

    _regexes = field_validator("exporter", "description", "interface")(_compile)

    @field_validator("speed")
    @classmethod
    def _speed(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"(>=|<=|>|<|=)?\s*\d+", v.strip()):
            raise ValueError(f"speed condition {v!r}: write e.g. '>=10000' (Mbit/s)")
        return v


class ExporterRule(ConfigModel):
    match: ExporterMatch = Field(default_factory=ExporterMatch)
    # Values may use the regex's groups: "$site" / "${1}".
    set: dict[ExporterAttribute, str] = Field(default_factory=dict)
    action: Literal["continue", "stop", "reject"] = "continue"


class InterfaceRule(ConfigModel):
    match: InterfaceMatch = Field(default_factory=InterfaceMatch)
    set: dict[InterfaceTextAttribute, str] = Field(default_factory=dict)
    action: Literal["continue", "stop", "reject"] = "continue"

    @model_validator(mode="after")
    def _boundary(self) -> InterfaceRule:
        b = self.set.get("boundary")
        if b is not None and b not in ("external", "internal", "undefined") and "$" not in b:
            raise ValueError(f"boundary {b!r}: use external, internal or undefined")
        return self


class NetworkAttributes(ConfigModel):
    name: str = ""
    role: str = ""
    site: str = ""
    region: str = ""
    tenant: str = ""
    country: str = ""  # overrides GeoIP


class GeoIPConfig(ConfigModel):
    # MaxMind-format databases (GeoLite2/GeoIP2 or IPinfo); empty: not used.
    asn_database: str = ""
    geo_database: str = ""


AsnProvider = Literal["flow", "flow-except-private", "geoip"]
DEFAULT_ASN_PROVIDERS: tuple[AsnProvider, ...] = ("flow", "geoip")


class OutletConfig(ConfigModel):
    http: HTTPConfig = Field(default_factory=lambda: HTTPConfig(listen="127.0.0.1:8081"))
    # Worker processes, each a member of the consumer group; more than partitions is refused at run time.
    workers: int = Field(1, ge=1, le=256)
    consumer_group: str = Field("flowweir-outlet", min_length=1)
    # librdkafka session timeout; a rebalance after a crash waits for it.
    session_timeout: Duration = 10.0
    # A batch is inserted when it holds this many flows or is this old.
    maximum_batch_size: int = Field(50_000, ge=1, le=10_000_000)
    maximum_wait_time: Duration = 5.0
    # ClickHouse failures: retries back off exponentially up to this interval, forever.
    insert_backoff_max: Duration = 30.0
    decoder: DecoderConfig = Field(default_factory=DecoderConfig)
    # Where NetFlow/IPFIX templates and sampling rates are kept: redis (shared by all outlets,
    # survives restarts and rebalances) or memory (this process only).
    template_store: Literal["redis", "memory"] = "redis"
    # Where exporter/interface names come from: the enrichment cache (Redis, filled by
    # `flowweir enrich worker`), or nowhere (classifiers only).
    metadata: Literal["enrich", "none"] = "enrich"
    # How the enrichment cache is read (timeouts, grace period, the workers' queue).
    enrichment: EnrichmentClientConfig = Field(default_factory=EnrichmentClientConfig)
    # Sampling rate per exporter subnet: override replaces what the exporter says,
    # default applies when it says nothing. A flow still without a rate is rejected.
    override_sampling_rate: SubnetKeyed[int] = Field(default_factory=dict)
    default_sampling_rate: SubnetKeyed[int] = Field(default_factory=dict)
    exporter_classifiers: list[ExporterRule] = Field(default_factory=list)
    interface_classifiers: list[InterfaceRule] = Field(default_factory=list)
    # Attributes of source/destination networks by subnet (longest prefix wins).
    networks: SubnetKeyed[NetworkAttributes] = Field(default_factory=dict)
    geoip: GeoIPConfig = Field(default_factory=GeoIPConfig)
    # Where SrcAS/DstAS come from, in order: flow (as exported), flow-except-private
    # (ignore private ASNs), geoip (ASN database).
    asn_providers: list[AsnProvider] = Field(default_factory=lambda: list(DEFAULT_ASN_PROVIDERS))
    # Sources (subnets) trusted to name another exporter: the sFlow agent address of their
    # datagrams is looked up and polled even when it is not the datagram's source (an sFlow
    # relay, a router exporting from another interface). Default: none; any other agent
    # address that is not its datagram's source is stored but never polled.
    trust_agent_address_from: SubnetList = Field(default_factory=list)
