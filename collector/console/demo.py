"""What `make demo` and `bench/console` need from the console.

- `backfill_sql(...)`: one `INSERT INTO flows_raw ... SELECT ... FROM numbers(N)`
  that makes ClickHouse itself generate N flows spread over a time range, as the live demo
  would have sent them: the demo exporter's routers (`collector.demoexporter`: edge1.par1,
  edge2.par1, edge1.fra1 on 127.0.0.11-13, their sampling rates, their interfaces' names,
  descriptions and speeds as their SNMP agents answer them), the interfaces' provider,
  connectivity and boundary and the exporters' group/role/site as the outlet's classifiers
  set them (`DEMO_CLASSIFIERS`, what `make demo` runs the outlet with), the content
  networks' AS numbers (`collector.demoexporter.traffic.SERVICES`), five in six flows in
  through an external interface and out through an internal one, TCP/UDP/ICMP with common
  ports, and a daily pattern (traffic peaks in the evening, is lowest at 06:00 UTC). The
  materialized views fill `flows` and the rollups as for real flows. Same SQL on 18.16 and
  modern servers.
- `demo_console_section(...)`: a `console` configuration section with one built-in
  user, to start `flowweir console` beside the demo pipeline.
- `start_demo_console(config, directory)`: both, for `scripts/demo.py`: backfill the past
  24 hours, start the console as a daemon, return it and the URL to print.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.config.root import parse_config
from collector.config.types import EXPORTER_ATTRIBUTES
from collector.console.auth import hash_password
from collector.demoexporter.config import RouterConfig, parse_demo_config
from collector.demoexporter.traffic import SERVICES
from collector.devservices.base import free_port
from collector.devservices.daemon import Daemon
from collector.outlet.config import OutletConfig
from collector.outlet.core.classify import ExporterClassifier, InterfaceClassifier
from collector.schema.columns import COLUMNS, IP
from collector.schema.ddl import RAW_TABLE, sql_string
from collector.schema.executor import DriverExecutor

# The outlet's classifiers in `make demo`: exporter group/role/site from the routers' names,
# interface connectivity/provider/boundary from their descriptions (`Transit: Cogent`).
DEMO_CLASSIFIERS: dict[str, Any] = {
    "exporter-classifiers": [
        {
            "match": {"name": r"^edge\d\.(?P<site>[a-z]+\d)$"},
            "set": {"group": "edge", "role": "peering", "site": "$site"},
        }
    ],
    "interface-classifiers": [
        {
            "match": {"description": r"^(?P<kind>Transit|Peering): (?P<provider>\S+)"},
            "set": {"connectivity": "$kind", "provider": "$provider", "boundary": "external"},
        },
        {"match": {"description": "^(Core|Customer)"}, "set": {"boundary": "internal"}},
    ],
}
_BOUNDARY = {"external": 1, "internal": 2}
PORTS = (443, 443, 443, 80, 53, 22, 123, 8443)
# A source country per content network, the rest US (illustrative, as the former backfill's:
# the demo runs without a GeoIP database, so its live flows carry no country).
COUNTRIES = {2906: "NL", 32934: "IE", 16276: "FR", 20940: "NL"}


@dataclass(frozen=True)
class BackfillInterface:
    index: int
    name: str
    description: str
    speed: int  # Mbit/s
    provider: str
    connectivity: str
    boundary: int  # 0 undefined, 1 external, 2 internal
    external: bool  # traffic from the Internet enters here (the demo exporter's notion)


@dataclass(frozen=True)
class BackfillExporter:
    address: str  # 16 bytes in hex, IPv4 mapped as the outlet stores it
    sampling_rate: int
    attributes: dict[str, str]  # name, group, role, site, region, tenant
    interfaces: tuple[BackfillInterface, ...]


def classified_exporters(
    routers: Sequence[RouterConfig], outlet: OutletConfig | None = None
) -> list[BackfillExporter]:
    """The demo exporter's routers as the outlet stores their flows: names from their agents
    (sysName, ifName, ifAlias, ifHighSpeed), the rest from `outlet`'s classifiers."""
    outlet = outlet or parse_config({"outlet": DEMO_CLASSIFIERS}).outlet
    exporter_rules = ExporterClassifier(outlet.exporter_classifiers)
    interface_rules = InterfaceClassifier(outlet.interface_classifiers)
    out = []
    for r in routers:
        address = ipaddress.ip_address(r.address)
        if isinstance(address, ipaddress.IPv4Address):
            address = ipaddress.IPv6Address(f"::ffff:{address}")
        attrs: dict[str, str] = {str(a): "" for a in EXPORTER_ATTRIBUTES} | {"name": r.name}
        for k, value in exporter_rules.classify(r.address, r.name).values.items():
            attrs[k] = attrs[k] or value
        interfaces = []
        for i in r.interfaces:
            got = interface_rules.classify(r.address, r.name, i.name, i.description, i.speed, 0)
            interfaces.append(
                BackfillInterface(
                    i.index,
                    i.name,
                    i.description,
                    i.speed,
                    got.values.get("provider", ""),
                    got.values.get("connectivity", ""),
                    _BOUNDARY.get(got.values.get("boundary", ""), 0),
                    i.external,
                )
            )
        out.append(
            BackfillExporter(address.packed.hex(), r.sampling_rate, attrs, tuple(interfaces))
        )
    return out


def _array(values: Any) -> str:
    def one(v: Any) -> str:
        if isinstance(v, str):
            return sql_string(v)
        if isinstance(v, list | tuple):
            return _array(v)
        return str(v)

    return "[" + ", ".join(one(v) for v in values) + "]"


def _pick(values: Any, index: str) -> str:
    return f"{_array(values)}[{index} + 1]"


def backfill_sql(
    database: str,
    start: int,
    end: int,
    rows: int,
    scale: int = 1,
    exporters: Sequence[BackfillExporter] | None = None,
) -> str:
    """ClickHouse generates `rows` flows with TimeReceived in [start, end) from `exporters`
    (default: the demo exporter's default routers, classified as `make demo` does); `scale`
    multiplies each flow's packets and bytes (the demo matches the live volume with it)."""
    exporters = exporters or classified_exporters(parse_demo_config({}).routers)
    span = max(end - start, 1)
    h = "cityHash64(number)"
    r = f"({h} % {len(exporters)})"  # the exporter's position
    inbound = f"(intDiv({h}, 7) % 6 < 5)"  # five in six flows come in from the Internet
    # Positions (0-based) of each exporter's external and internal interfaces.
    external = [[n for n, i in enumerate(e.interfaces) if i.external] for e in exporters]
    internal = [[n for n, i in enumerate(e.interfaces) if not i.external] for e in exporters]

    def among(positions: list[list[int]], salt: int) -> str:
        chosen = f"{_array(positions)}[{r} + 1]"
        return f"{chosen}[intDiv({h}, {salt}) % length({chosen}) + 1]"

    in_pos = f"if({inbound}, {among(external, 11)}, {among(internal, 11)})"
    out_pos = f"if({inbound}, {among(internal, 41)}, {among(external, 41)})"

    def iface(field: str, position: str) -> str:
        table = [[getattr(i, field) for i in e.interfaces] for e in exporters]
        return f"{_array(table)}[{r} + 1][{position} + 1]"

    when = f"toUInt32({start} + intDiv(number * {span}, {rows}))"
    # Daily pattern: 0.25 at 06:00 UTC, 1.75 at 18:00.
    daily = f"(1 - 0.75 * cos(2 * pi() * ((({when}) % 86400) / 86400 - 0.25)))"
    # Content networks by their weight in the demo exporter's traffic.
    asns = [s.asn for s in SERVICES for _ in range(max(1, round(s.weight)))]
    as_index = f"(intDiv({h}, 13) % {len(asns)})"
    proto_roll = f"(intDiv({h}, 17) % 100)"
    values: dict[str, str] = {
        "TimeReceived": f"toDateTime({when})",
        "SamplingRate": f"toUInt64({_pick([e.sampling_rate for e in exporters], r)})",
        "ExporterAddress": f"toFixedString(unhex({_pick([e.address for e in exporters], r)}), 16)",
        "SrcAddr": "toFixedString(unhex(concat('00000000000000000000ffff', "
        f"hex(toUInt32(3325256704 + intDiv({h}, 11) % 65536)))), 16)",
        "DstAddr": "toFixedString(unhex(concat('00000000000000000000ffff', "
        f"hex(toUInt32(3405803776 + intDiv({h}, 19) % 256)))), 16)",
        "SrcAS": f"toUInt32({_pick(asns, as_index)})",
        "DstAS": "toUInt32(64500)",
        "SrcNetCountry": _pick([COUNTRIES.get(a, "US") for a in asns], as_index),
        "DstNetCountry": "'FR'",
        "InIf": f"toUInt32({iface('index', in_pos)})",
        "OutIf": f"toUInt32({iface('index', out_pos)})",
        "EType": "toUInt16(2048)",
        "Proto": f"toUInt8(if({proto_roll} < 80, 6, if({proto_roll} < 98, 17, 1)))",
        "SrcPort": f"toUInt16({_pick(PORTS, f'(intDiv({h}, 23) % {len(PORTS)})')})",
        "DstPort": f"toUInt16(32768 + intDiv({h}, 29) % 28000)",
        "Packets": f"toUInt64((1 + intDiv({h}, 31) % 20) * {int(scale)})",
        "Bytes": f"toUInt64((1 + intDiv({h}, 31) % 20) * (64 + intDiv({h}, 37) % 1400) * {daily}"
        f" * {int(scale)})",
        "ForwardingStatus": "toUInt8(64)",
        "FlowDirection": "toUInt8(1)",
    }
    for attr in EXPORTER_ATTRIBUTES:
        values[f"Exporter{attr.capitalize()}"] = _pick([e.attributes[attr] for e in exporters], r)
    for side, position in (("In", in_pos), ("Out", out_pos)):
        values[f"{side}IfName"] = iface("name", position)
        values[f"{side}IfDescription"] = iface("description", position)
        values[f"{side}IfProvider"] = iface("provider", position)
        values[f"{side}IfConnectivity"] = iface("connectivity", position)
        values[f"{side}IfBoundary"] = f"toUInt8({iface('boundary', position)})"
        values[f"{side}IfSpeed"] = f"toUInt32({iface('speed', position)})"
    exprs = []
    for col in COLUMNS:
        if col.name in values:
            exprs.append(values[col.name])
        elif col.ch_type == IP:
            exprs.append("toFixedString('', 16)")
        elif col.ch_type.startswith("Array("):
            exprs.append("CAST([] AS Array(UInt32))")
        elif col.ch_type == "String":
            exprs.append("''")
        else:
            exprs.append(f"to{col.ch_type}(0)")
    names = ", ".join(f"`{c.name}`" for c in COLUMNS)
    return (
        f"INSERT INTO {database}.{RAW_TABLE} ({names}) SELECT {', '.join(exprs)} "
        f"FROM numbers({int(rows)})"
    )


def demo_console_section(
    state_file: str, listen: str, user: str = "demo", password: str = "demo"
) -> dict[str, Any]:
    """A `console` section for the demo: built-in user `user`, the devservices' read-only user."""
    return {
        "http": {"listen": listen},
        "clickhouse-username": "flowweir_console",
        "state-file": state_file,
        "auth": {"users": [{"name": user, "password-hash": hash_password(password)}]},
    }


def start_demo_console(
    config: dict[str, Any],
    directory: Path,
    hours: int = 24,
    rows: int = 500_000,
    scale: int = 100,
    user: str = "demo",
    password: str = "demo",
    now: int | None = None,
) -> tuple[Daemon, str]:
    """For `make demo`: backfill the past `hours`, start `flowweir console`, return it and its URL.

    `scale` 100 puts the backfill near the live demo exporter's volume (a few Gbit/s per router).
    `config` is the demo's configuration (its `clickhouse` section names the server and the
    database the orchestrator already created); the backfill writes as that section's user,
    the console reads as the devservices' read-only `flowweir_console`. The caller stops the
    daemon (`daemon.stop()`); sign in as `user`/`password`.
    """
    ch = config.get("clickhouse", {})
    database = ch.get("database", "flowweir")
    server = ch.get("servers", ["127.0.0.1:9000"])[0]
    end = int(time.time() if now is None else now) - 60
    routers = parse_demo_config(config).routers
    outlet = {**DEMO_CLASSIFIERS, **(config.get("outlet") or {})}  # the demo's, else these
    exporters = classified_exporters(routers, parse_config({"outlet": outlet}).outlet)
    executor = DriverExecutor(server, ch.get("username", "default"), ch.get("password", ""), 300)
    try:
        executor.query(backfill_sql(database, end - hours * 3600, end, rows, scale, exporters))
    finally:
        executor.close()
    listen = f"127.0.0.1:{free_port()}"
    console_config = {
        **{k: v for k, v in config.items() if k in ("clickhouse", "orchestrator", "outlet")},
        "console": demo_console_section(str(directory / "console.sqlite"), listen, user, password),
    }
    daemon = Daemon("console", console_config).start()
    return daemon, f"http://{listen}/"
