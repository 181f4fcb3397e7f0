"""What the console can group by (dimensions) and filter on (filter columns).

Both come from `collector.schema.columns`, plus derived dimensions: source and
destination prefixes (addresses truncated to a length), AS numbers written `AS15169`,
protocol, port, boundary, direction and Ethernet type names. Every expression is the
same SQL on ClickHouse 18.16 and on modern servers (`transform`, `cutIPv6`,
`IPv6NumToString` exist on both), so the dialect does not matter here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from collector.schema.columns import COLUMNS, FLOW_DIRECTION, INTERFACE_BOUNDARY, IP, Column
from collector.schema.ddl import sql_string
from collector.schema.dictionaries import PROTOCOLS

PROTOCOL_NAMES: dict[int, str] = {number: name for number, name, _ in PROTOCOLS}
PROTOCOL_NUMBERS: dict[str, int] = {name.lower(): number for number, name, _ in PROTOCOLS}
ETHERNET_TYPES = {0x0800: "IPv4", 0x86DD: "IPv6"}
# Well-known ports shown with their service name (IANA service names).
PORT_NAMES = {
    20: "ftp-data",
    21: "ftp",
    22: "ssh",
    23: "telnet",
    25: "smtp",
    53: "domain",
    67: "bootps",
    68: "bootpc",
    80: "http",
    110: "pop3",
    123: "ntp",
    143: "imap",
    161: "snmp",
    179: "bgp",
    389: "ldap",
    443: "https",
    445: "microsoft-ds",
    465: "submissions",
    514: "syslog",
    587: "submission",
    636: "ldaps",
    853: "domain-s",
    993: "imaps",
    995: "pop3s",
    1194: "openvpn",
    1812: "radius",
    3306: "mysql",
    3389: "ms-wbt-server",
    4789: "vxlan",
    5060: "sip",
    5432: "postgresql",
    6343: "sflow",
    8080: "http-alt",
    8443: "https-alt",
    9000: "clickhouse",
    9092: "kafka",
}
_ENUMS: dict[str, dict[int, str]] = {
    "InIfBoundary": INTERFACE_BOUNDARY,
    "OutIfBoundary": INTERFACE_BOUNDARY,
    "FlowDirection": FLOW_DIRECTION,
}
# Columns that are not dimensions: time, measures, per-packet details nobody groups by.
_NOT_DIMENSIONS = {"TimeReceived", "Bytes", "Packets", "SrcMAC", "DstMAC"}


def reverse_name(name: str) -> str:
    """The same attribute for the other direction: InIf<->OutIf, Src<->Dst (others unchanged)."""
    for a, b in (("InIf", "OutIf"), ("Src", "Dst")):
        if name.startswith(a):
            return b + name[len(a) :]
        if name.startswith(b):
            return a + name[len(b) :]
    return name


def _transform(column: str, mapping: dict[int, str], default: str) -> str:
    keys = ", ".join(str(k) for k in mapping)
    values = ", ".join(sql_string(v) for v in mapping.values())
    return f"transform({column}, [{keys}], [{values}], {default})"


def _address(column: str) -> str:
    return f"replaceRegexpOne(IPv6NumToString({column}), '^::ffff:', '')"


@dataclass(frozen=True)
class Dimension:
    """A group-by value: `sql(v4, v6)` is a String expression; `columns` the columns it reads."""

    name: str
    columns: frozenset[str]
    expression: Callable[[int, int], str]
    doc: str = ""

    def sql(self, v4: int = 24, v6: int = 48) -> str:
        return self.expression(v4, v6)


def _column_dimension(col: Column) -> Dimension | None:
    name = col.name
    if name in _NOT_DIMENSIONS or col.ch_type.startswith("Array("):
        return None
    if col.ch_type == IP:
        expr = _address(name)
    elif name in ("SrcAS", "DstAS"):
        expr = f"concat('AS', toString({name}))"
    elif name == "Proto":
        expr = _transform(name, PROTOCOL_NAMES, f"toString({name})")
    elif name in ("SrcPort", "DstPort"):
        named = {p: f"{p} ({n})" for p, n in PORT_NAMES.items()}
        expr = _transform(name, named, f"toString({name})")
    elif name in _ENUMS:
        expr = _transform(name, _ENUMS[name], f"toString({name})")
    elif name == "EType":
        expr = _transform(name, ETHERNET_TYPES, f"toString({name})")
    else:
        expr = f"toString({name})"
    return Dimension(name, frozenset({name}), _constant(expr), col.doc)


def _constant(expr: str) -> Callable[[int, int], str]:
    def expression(_v4: int, _v6: int) -> str:
        return expr

    return expression


def _prefix(side: str) -> Dimension:
    column = f"{side}Addr"
    v4_mapped = f"substring({column}, 1, 12) = unhex('00000000000000000000FFFF')"

    def expression(v4: int, v6: int) -> str:
        cut = f"cutIPv6({column}, {(128 - v6) // 8}, {(32 - v4) // 8})"
        return (
            f"concat(replaceRegexpOne({cut}, '^::ffff:', ''), '/', if({v4_mapped}, '{v4}', '{v6}'))"
        )

    return Dimension(
        f"{side}NetPrefix",
        frozenset({column}),
        expression,
        f"{column} truncated to the request's IPv4/IPv6 prefix lengths",
    )


def _build_dimensions() -> dict[str, Dimension]:
    out: dict[str, Dimension] = {}
    for col in COLUMNS:
        dim = _column_dimension(col)
        if dim is not None:
            out[dim.name] = dim
    for side in ("Src", "Dst"):
        dim = _prefix(side)
        out[dim.name] = dim
    return out


DIMENSIONS: dict[str, Dimension] = _build_dimensions()
DIMENSIONS_LOWER: dict[str, Dimension] = {k.lower(): d for k, d in DIMENSIONS.items()}


@dataclass(frozen=True)
class FilterColumn:
    """A column the filter language can compare: how a typed value becomes an SQL literal."""

    name: str
    kind: str  # ip, int, string, enum
    names: dict[str, int] = field(default_factory=dict)  # enum/proto names -> numbers
    strip_prefix: str = ""  # `AS` in AS15169

    @property
    def sql(self) -> str:
        return f"`{self.name}`"

    def literal(self, raw: str, operator: str = "=") -> str:
        if self.kind == "string":
            return sql_string(raw)
        if self.kind == "ip":
            from collector.console.filter import ip_literal

            try:
                return ip_literal(raw)
            except ValueError:
                raise ValueError(f"{raw!r} is not an IP address") from None
        text = raw.strip()
        if self.names and text.lower() in self.names:
            return str(self.names[text.lower()])
        if self.strip_prefix and text.upper().startswith(self.strip_prefix):
            text = text[len(self.strip_prefix) :]
        if not text.isdigit() or len(text) > 20:
            allowed = f" or one of {', '.join(sorted(self.names))}" if self.names else ""
            raise ValueError(f"{raw!r} is not a number{allowed}")
        return str(int(text))

    def values(self) -> list[str]:
        """Values offered by completion without asking ClickHouse."""
        return sorted(self.names, key=lambda n: self.names[n]) if self.names else []


def _filter_column(col: Column) -> FilterColumn | None:
    name = col.name
    if col.ch_type.startswith("Array("):
        return None
    if col.ch_type == IP:
        return FilterColumn(name, "ip")
    if col.ch_type == "String":
        return FilterColumn(name, "string")
    if name == "Proto":
        return FilterColumn(name, "int", PROTOCOL_NUMBERS)
    if name in _ENUMS:
        return FilterColumn(name, "enum", {v: k for k, v in _ENUMS[name].items()})
    if name == "EType":
        return FilterColumn(name, "int", {v.lower(): k for k, v in ETHERNET_TYPES.items()})
    if name in ("SrcAS", "DstAS"):
        return FilterColumn(name, "int", strip_prefix="AS")
    if name == "TimeReceived":
        return None
    return FilterColumn(name, "int")


FILTER_COLUMNS: dict[str, FilterColumn] = {
    fc.name.lower(): fc for fc in (_filter_column(c) for c in COLUMNS) if fc is not None
}
