"""Demo exporter configuration: section `demo-exporter` of its configuration file.

Other sections of the file (kafka, inlet, ...) are ignored, so the pipeline's file may hold it.
Example (the defaults: three routers on 127.0.0.11-13, one per protocol):

```yaml
demo-exporter:
  http: {listen: 127.0.0.1:8084}
  targets:                        # where each protocol is sent (the inlet's inputs)
    netflow9: 127.0.0.1:2055
    ipfix: 127.0.0.1:2055
    sflow: 127.0.0.1:6343
  template-interval: 20s          # NetFlow v9/IPFIX templates and sampling options, again
  counter-interval: 20s           # sFlow interface counters
  daily-pattern: true             # traffic follows the time of day: peak at 21:00, low at 05:00
  seed: 1                         # same seed, same traffic
  flow-limit: 0                   # each router stops exporting after this many flows (0: never)
  snmp:
    enabled: true
    port: 161                     # each router's agent listens on its own address, this port
    community: public
  routers:
    - name: edge1.par1
      address: 127.0.0.11         # source address of its datagrams and address of its agent
      protocol: netflow9          # netflow9, ipfix or sflow
      sampling-rate: 1000
      flows-per-second: 100       # at the daily peak
      local-as: 64500
      prefixes: [198.51.100.0/24, 2001:db8:100::/48]   # the customers behind it
      interfaces:
        - {index: 1, name: et-0/0/0, description: "Transit: Cogent", speed: 100000}
        - {index: 2, name: et-0/0/1, description: "Peering: FranceIX", speed: 100000}
        - {index: 3, name: xe-1/0/0, description: "Customer: ACME", speed: 10000, kind: internal}
```

An interface is `external` (traffic from the Internet enters there) or `internal` (customers,
core); by default an interface whose description starts with Transit, Peering or IX is
external. Speeds are in Mbit/s (ifHighSpeed).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from collector.config.model import ConfigModel
from collector.config.shared import HTTPConfig
from collector.config.types import Duration, parse_hostport

Protocol = Literal["netflow9", "ipfix", "sflow"]
Interval = Annotated[Duration, Field(gt=0)]
EXTERNAL = re.compile(r"^(Transit|Peering|IX)\b", re.IGNORECASE)


class InterfaceConfig(ConfigModel):
    index: int = Field(ge=1, le=0x3FFFFFFE)
    name: str = Field(min_length=1)
    description: str = ""
    speed: int = Field(10000, ge=0)  # Mbit/s
    kind: Literal["auto", "external", "internal"] = "auto"

    @property
    def external(self) -> bool:
        if self.kind == "auto":
            return bool(EXTERNAL.match(self.description))
        return self.kind == "external"


class RouterConfig(ConfigModel):
    name: str = Field(min_length=1)
    address: str
    protocol: Protocol = "netflow9"
    sampling_rate: int = Field(1000, ge=1)
    flows_per_second: float = Field(100.0, ge=0, le=1_000_000)
    local_as: int = Field(64500, ge=0, le=0xFFFFFFFF)
    prefixes: list[str] = Field(default_factory=lambda: ["198.51.100.0/24", "2001:db8:100::/48"])
    interfaces: list[InterfaceConfig] = Field(min_length=2)

    @field_validator("address")
    @classmethod
    def _check_address(cls, v: str) -> str:
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            raise ValueError("not an IP address") from None

    @field_validator("prefixes")
    @classmethod
    def _check_prefixes(cls, v: list[str]) -> list[str]:
        for prefix in v:
            try:
                ipaddress.ip_network(prefix, strict=False)
            except ValueError:
                raise ValueError(f"{prefix!r} is not a prefix") from None
        if not any(ipaddress.ip_network(p, strict=False).version == 4 for p in v):
            raise ValueError("at least one IPv4 prefix is needed")
        return v

    @model_validator(mode="after")
    def _check(self) -> RouterConfig:
        indexes = [i.index for i in self.interfaces]
        if len(set(indexes)) != len(indexes):
            raise ValueError(f"router {self.name}: two interfaces with the same index")
        external = [i for i in self.interfaces if i.external]
        if not external or len(external) == len(self.interfaces):
            raise ValueError(
                f"router {self.name}: needs external (Transit/Peering/IX, or kind: external) "
                "and internal interfaces"
            )
        return self


class SNMPAgentConfig(ConfigModel):
    enabled: bool = True
    port: int = Field(161, ge=0, le=65535)
    community: str = Field("public", min_length=1)


def _default_interfaces(transit: str, peering: str, customer: str) -> list[InterfaceConfig]:
    return [
        InterfaceConfig(index=1, name="et-0/0/0", description=f"Transit: {transit}", speed=100000),
        InterfaceConfig(index=2, name="et-0/0/1", description=f"Peering: {peering}", speed=100000),
        InterfaceConfig(index=3, name="xe-1/0/0", description=f"Customer: {customer}", speed=10000),
        InterfaceConfig(index=4, name="xe-1/0/1", description="Core: to core1", speed=10000),
        InterfaceConfig(index=5, name="ge-2/0/0", description="Customer: Initech", speed=1000),
    ]


def _default_routers() -> list[RouterConfig]:
    return [
        RouterConfig(
            name="edge1.par1",
            address="127.0.0.11",
            protocol="netflow9",
            interfaces=_default_interfaces("Cogent", "FranceIX", "ACME"),
        ),
        RouterConfig(
            name="edge2.par1",
            address="127.0.0.12",
            protocol="ipfix",
            prefixes=["203.0.113.0/24", "2001:db8:200::/48"],
            interfaces=_default_interfaces("Lumen", "FranceIX", "Globex"),
        ),
        RouterConfig(
            name="edge1.fra1",
            address="127.0.0.13",
            protocol="sflow",
            sampling_rate=2000,
            flows_per_second=300,  # a sample is one packet: more of them for a like volume
            local_as=64501,
            prefixes=["192.0.2.0/24", "2001:db8:300::/48"],
            interfaces=_default_interfaces("Arelion", "DE-CIX", "Umbrella"),
        ),
    ]


def _check_target(v: str) -> str:
    host, port = parse_hostport(v, 0)
    if not host or not port:
        raise ValueError("needs a host and a port (host:port)")
    return v


class TargetsConfig(ConfigModel):
    netflow9: str = "127.0.0.1:2055"
    ipfix: str = "127.0.0.1:2055"
    sflow: str = "127.0.0.1:6343"

    @field_validator("netflow9", "ipfix", "sflow")
    @classmethod
    def _check(cls, v: str) -> str:
        return _check_target(v)


class DemoExporterConfig(ConfigModel):
    http: HTTPConfig = Field(default_factory=lambda: HTTPConfig(listen="127.0.0.1:8084"))
    targets: TargetsConfig = Field(default_factory=TargetsConfig)
    template_interval: Interval = 20.0
    counter_interval: Interval = 20.0
    daily_pattern: bool = True
    seed: int = 1
    # Each router stops exporting after this many flows (its agent keeps answering); 0: never.
    flow_limit: int = Field(0, ge=0)
    snmp: SNMPAgentConfig = Field(default_factory=SNMPAgentConfig)
    routers: list[RouterConfig] = Field(default_factory=_default_routers, min_length=1)

    @model_validator(mode="after")
    def _check(self) -> DemoExporterConfig:
        for what in ("name", "address"):
            values = [getattr(r, what) for r in self.routers]
            dup = next((v for v in values if values.count(v) > 1), None)
            if dup is not None:
                raise ValueError(f"routers: {what} {dup} used twice")
        return self


class DemoExporterFile(ConfigModel):
    """The file as the demo exporter reads it: its section (other sections are not its own)."""

    demo_exporter: DemoExporterConfig = Field(default_factory=DemoExporterConfig)


def parse_demo_config(data: Any, origin: str = "") -> DemoExporterConfig:
    """The `demo-exporter` section of a parsed file; ConfigError names each problem."""
    from collector.config.root import Config, ConfigError, format_validation_error

    where = f"{origin}: " if origin else ""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}the configuration must be a mapping of sections (demo-exporter)")
    others = {f.alias or n for n, f in Config.model_fields.items()}
    unknown = sorted(str(k) for k in data if k != "demo-exporter" and k not in others)
    if unknown:
        raise ConfigError(
            f"{where}{unknown[0]}: unknown section; allowed: demo-exporter "
            "(and the pipeline's sections, which the demo exporter ignores)"
        )
    try:
        return DemoExporterFile.model_validate(
            {"demo-exporter": data.get("demo-exporter") or {}}
        ).demo_exporter
    except ValidationError as exc:
        lines = format_validation_error(exc, DemoExporterFile).splitlines()
        raise ConfigError("\n".join(where + line for line in lines)) from None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_demo_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> DemoExporterConfig:
    """The section of the file at `path` (none: the defaults), `overrides` merged into it."""
    from collector.config.root import read_yaml

    data: Any = read_yaml(path) if path is not None else {}
    if overrides and isinstance(data, dict | None):
        data = dict(data or {})
        data["demo-exporter"] = _merge(data.get("demo-exporter") or {}, overrides)
    return parse_demo_config(data, str(path) if path is not None else "")
