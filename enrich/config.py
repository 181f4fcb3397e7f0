"""Enrichment configuration: section `enrich` of the configuration file (the workers' side;
how the outlets read the cache is `outlet.enrichment`, in `collector/config/shared.py`).

Durations and subnet-keyed maps are the shared types of `collector/config/types.py`:
seconds or `500ms`, `30s`, `5m`, `1h`, `7d`, `1w`; maps keyed by subnet (`192.0.2.0/24: ...`)
are looked up by longest prefix, an address alone is a /32 (or /128).

```yaml
enrich:
  providers: [static, snmp, gnmi]      # tried in this order
  cache-duration: 1h                   # evict what the outlets have not read for this long
  cache-refresh: 30m                   # re-poll what is older than this
  cache-check-interval: 2m             # how often Celery beat runs the check
  queue: flowweir-enrich               # Celery queue consumed (= outlet.enrichment.queue)
  breaker: {failures: 3, cool-down: 1m}
  static:
    exporters:
      192.0.2.0/24: {name: edge1, site: par1, default: {name: unknown}, interfaces: {10: {name: et-0/0/1}}}
    sources:
      netbox: {url: "http://...", format: json, transform: ".results[]", interval: 10m, timeout: 5s}
  snmp:                                # polls only exporters inside these subnets (no default)
    communities: {192.0.2.0/24: [public]}
    security-parameters: {198.51.100.0/24: {user-name: u, authentication-protocol: sha, ...}}
    ports: {0.0.0.0/0: 161}
    agents: {192.0.2.1: 192.0.2.254}
  gnmi:
    targets: {192.0.2.1: 192.0.2.1}    # exporter -> target (default: the exporter itself)
    ports: {0.0.0.0/0: 57400}
    insecure: true
    models: [openconfig, srlinux]
```
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from collector.config.model import ConfigModel
from collector.config.shared import HTTPConfig
from collector.config.types import (
    Duration,
    ExporterRecord,
    InterfaceRecord,
    SubnetKeyed,
)


class StaticExporter(ExporterRecord):
    # Answer for ifIndexes not listed in `interfaces`; none: they are missing (or skipped, below).
    default: InterfaceRecord | None = None
    interfaces: dict[int, InterfaceRecord] = Field(default_factory=dict)
    # Leave ifIndexes not listed (and without default) to the next provider instead of answering "missing".
    skip_missing_interfaces: bool = False


class RemoteSource(ConfigModel):
    """An HTTP GET whose body (JSON, or CSV as a list of row objects) is turned by `transform` (jq)
    into exporter records: `{"exporter": "192.0.2.0/24", "name": ..., "site": ..., "default": {...},
    "interfaces": [{"ifindex": 1, "name": ..., "description": ..., "speed": ...}]}`."""

    url: str = Field(pattern=r"^https?://")
    format: Literal["json", "csv"] = "json"
    headers: dict[str, str] = Field(default_factory=dict)
    transform: str = ".[]"
    interval: Duration = 600.0
    timeout: Duration = 10.0

    @field_validator("transform")
    @classmethod
    def _check_jq(cls, v: str) -> str:
        import jq

        try:
            jq.compile(v)
        except ValueError as exc:
            raise ValueError(f"transform is not a valid jq program: {exc}") from None
        return v


class StaticConfig(ConfigModel):
    exporters: SubnetKeyed[StaticExporter] = Field(default_factory=dict)
    sources: dict[str, RemoteSource] = Field(default_factory=dict)


AuthProtocol = Literal["none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"]
PrivProtocol = Literal["none", "des", "3des", "aes", "aes192", "aes256", "aes192c", "aes256c"]


class SNMPSecurity(ConfigModel):
    """SNMPv3 USM credentials (aes192c/aes256c: the Cisco "Reeder" key localization)."""

    user_name: str
    authentication_protocol: AuthProtocol = "none"
    authentication_passphrase: SecretStr = SecretStr("")
    privacy_protocol: PrivProtocol = "none"
    privacy_passphrase: SecretStr = SecretStr("")
    context_name: str = ""

    @model_validator(mode="after")
    def _check(self) -> SNMPSecurity:
        if (
            self.authentication_protocol != "none"
            and len(self.authentication_passphrase.get_secret_value()) < 8
        ):
            raise ValueError("authentication-passphrase needs at least 8 characters")
        if self.privacy_protocol != "none":
            if self.authentication_protocol == "none":
                raise ValueError("privacy-protocol needs an authentication-protocol")
            if len(self.privacy_passphrase.get_secret_value()) < 8:
                raise ValueError("privacy-passphrase needs at least 8 characters")
        return self


class SNMPConfig(ConfigModel):
    timeout: Duration = 1.0
    retries: int = Field(1, ge=0, le=10)
    # v2c communities by exporter subnet. These subnets and those of security-parameters are
    # the only exporters SNMP ever polls: no default (an exporter outside them is counted in
    # flowweir_enrich_provider_out_of_scope_total and never sent a packet).
    communities: SubnetKeyed[list[str]] = Field(default_factory=dict)
    # Exporters matching a subnet here are polled with SNMPv3 instead of v2c.
    security_parameters: SubnetKeyed[SNMPSecurity] = Field(default_factory=dict)
    ports: SubnetKeyed[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=dict)
    # Exporter address -> address of its SNMP agent (when they differ).
    agents: dict[str, str] = Field(default_factory=dict)
    # Variable bindings per GET; above this a poll is split (sysName + 4 per ifIndex).
    max_oids_per_request: int = Field(256, ge=5, le=2000)


GNMIModelName = Literal["openconfig", "srlinux"]


def _models(names: list[Any]) -> list[GNMIModelName]:
    return names


ProviderName = Literal["static", "snmp", "gnmi"]


def _providers(names: list[Any]) -> list[ProviderName]:
    return names


class GNMITLS(ConfigModel):
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    skip_verify: bool = False


class GNMIConfig(ConfigModel):
    timeout: Duration = 5.0
    # Exporter address (or subnet) -> target host ("": the exporter address itself). These
    # subnets are the only exporters gNMI ever polls (no default).
    targets: SubnetKeyed[str] = Field(default_factory=dict)
    ports: SubnetKeyed[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=dict)
    # Value of the gNMI `target` field in requests (some proxies need it); empty: not set.
    set_target: SubnetKeyed[str] = Field(default_factory=dict)
    username: str = ""
    password: SecretStr = SecretStr("")
    insecure: bool = False
    tls: GNMITLS = Field(default_factory=GNMITLS)
    mode: Literal["get", "subscribe-once"] = "get"
    encoding: Literal["json_ietf", "json"] = "json_ietf"
    # Tried in order; the first one whose paths return interfaces wins (remembered per target).
    models: list[GNMIModelName] = Field(default_factory=lambda: _models(["openconfig", "srlinux"]))


class BreakerConfig(ConfigModel):
    # Consecutive failed polls that open the breaker of an exporter.
    failures: int = Field(3, ge=1)
    # Time the breaker stays open; then a single probe poll decides.
    cool_down: Duration = 60.0


class EnrichConfig(ConfigModel):
    http: HTTPConfig = Field(default_factory=lambda: HTTPConfig(listen="127.0.0.1:8083"))
    providers: list[ProviderName] = Field(
        default_factory=lambda: _providers(["static", "snmp"]), min_length=1
    )
    cache_duration: Duration = 3600.0
    cache_refresh: Duration = 1800.0
    cache_check_interval: Duration = 120.0
    # A refresh the workers queue themselves (beat, a re-poll) stays deduplicated at most this
    # long; the outlets' requests use `outlet.enrichment.request-ttl`.
    request_ttl: Duration = 30.0
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    static: StaticConfig = Field(default_factory=StaticConfig)
    snmp: SNMPConfig = Field(default_factory=SNMPConfig)
    gnmi: GNMIConfig = Field(default_factory=GNMIConfig)
    # Celery: queue consumed by `flowweir enrich worker` (the outlets send to
    # `outlet.enrichment.queue`: both must be the same) and its number of worker processes.
    queue: str = Field("flowweir-enrich", pattern=r"^[A-Za-z0-9._-]+$")
    concurrency: int = Field(2, ge=1, le=256)

    @model_validator(mode="after")
    def _check(self) -> EnrichConfig:
        if len(set(self.providers)) != len(self.providers):
            raise ValueError("providers: each provider may appear once")
        if self.cache_refresh and self.cache_duration and self.cache_refresh >= self.cache_duration:
            raise ValueError(
                "cache-refresh must be shorter than cache-duration "
                f"(got {self.cache_refresh}s >= {self.cache_duration}s)"
            )
        return self
