"""Value types shared by every configuration section.

- `Duration` (seconds as float) and `WholeDuration` (whole seconds): one syntax everywhere,
  a number of seconds (`1.5`, `"90"`) or numbers with units, combined if need be:
  `500ms`, `2s`, `5m`, `1h`, `7d`, `1w`, `1y` (365 days), `1h30m`.
- `ServerAddress` (a server to connect to: Kafka broker, ClickHouse server) and
  `ListenAddress` (an address this machine binds): `host:port`, `[v6]:port`, `host`.
- `RedisURL`: a `redis://`, `rediss://` or `unix://` URL whose password never shows (dump,
  repr, messages); `.get_secret_value()` is the URL to connect with.
- `SubnetMap`: values keyed by subnet, looked up by longest prefix (a radix tree);
  `SubnetKeyed[T]` is a configuration mapping whose keys must be subnets or addresses.
- The exporter and interface attributes (`EXPORTER_ATTRIBUTES`, `INTERFACE_ATTRIBUTES`) and
  their records as configured (`ExporterRecord`, `InterfaceRecord`).
"""

from __future__ import annotations

import errno
import ipaddress
import math
import re
import socket
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args
from urllib.parse import urlsplit

import radix
from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, Secret

from collector.config.model import ConfigModel

# ---- durations -------------------------------------------------------------------------

DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "y": 365 * 86400.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
DURATION_HELP = "write seconds or a number with a unit: 500ms, 2s, 5m, 1h, 7d, 1w"


def parse_duration(value: Any) -> float:
    """`1.5`, `"90"`, `"500ms"`, `"30s"`, `"5m"`, `"1h30m"`, `"7d"`, `"1w"` -> seconds."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION_PART.findall(text)
            if parts and "".join(n + u for n, u in parts) == text:
                seconds = sum(float(n) * DURATION_UNITS[u] for n, u in parts)
    if seconds is None or not math.isfinite(seconds):
        raise ValueError(f"not a duration; {DURATION_HELP}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest text `parse_duration` reads back: `1d`, `6h`, `1h30m`, `500ms`, `0s`."""
    if seconds == 0:
        return "0s"
    ms = round(seconds * 1000)
    if abs(ms / 1000 - seconds) > 1e-9 or ms < 0:  # below a millisecond (or negative)
        return f"{seconds!r}"
    out = ""
    for unit in ("d", "h", "m", "s", "ms"):
        n, ms = divmod(ms, round(DURATION_UNITS[unit] * 1000))
        if n:
            out += f"{n}{unit}"
    return out


def _whole_seconds(value: Any) -> int:
    seconds = parse_duration(value)
    if seconds != int(seconds):
        raise ValueError("must be whole seconds")
    return int(seconds)


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(ge=0),
]
WholeDuration = Annotated[
    int,
    BeforeValidator(_whole_seconds),
    PlainSerializer(format_duration, return_type=str),
    Field(ge=0),
]

# ---- addresses -------------------------------------------------------------------------

_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?")


def parse_hostport(value: str, default_port: int) -> tuple[str, int]:
    """`host:port`, `[v6]:port`, `:port`, `host` or a bare IPv6 address into (host, port).

    Raises ValueError saying what is wrong (a port that is not a number, out of range, a host
    that is neither an IP address nor a host name)."""
    text = value.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError("write [IPv6]:port")
        port = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    elif text.count(":") > 1:  # a bare IPv6 address, no port
        host, port = text, ""
    else:
        host, colon, port = text.partition(":")
        if colon and not port:
            raise ValueError("port missing after ':'")
    if port and not port.isdigit():
        raise ValueError(f"port {port!r} is not a number")
    port_n = int(port) if port else default_port
    if not 0 <= port_n <= 65535:
        raise ValueError(f"port {port_n} out of range 0-65535")
    if host and not _is_host(host):
        hint = f" (a port alone is written :{host})" if host.isdigit() else ""
        raise ValueError(f"{host!r} is neither an IP address nor a host name{hint}")
    return host, port_n


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        if re.fullmatch(r"[\d.]+", host):  # 1.2.3: a malformed IPv4 address, not a name
            return False
        return len(host) <= 253 and _HOSTNAME.fullmatch(host) is not None


def _check_server_address(value: str) -> str:
    host, port = parse_hostport(value, 1)
    if not host:
        raise ValueError("host missing (write host:port)")
    if port == 0:
        raise ValueError("port 0 is not a server's port")
    return value


# A server to connect to: `host:port`, `[v6]:port` or `host` (the port defaults per use).
ServerAddress = Annotated[str, AfterValidator(_check_server_address)]


def check_assignable(host: str) -> None:
    """Raise ValueError when this machine cannot bind `host` (not one of its addresses,
    a multicast or broadcast address, a name that does not resolve)."""
    if not host:
        return
    try:
        infos = socket.getaddrinfo(host, 0, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ValueError(f"{host!r} does not resolve ({exc.strerror})") from None
    family, kind, proto, _, addr = infos[0]
    ip = ipaddress.ip_address(str(addr[0]).split("%")[0])
    if ip.is_multicast or str(ip) == "255.255.255.255":
        raise ValueError(f"{host!r} is not a unicast address")
    try:
        with socket.socket(family, kind, proto) as sock:
            sock.bind(addr)
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ValueError(f"{host!r} is not an address of this machine") from None
        raise ValueError(f"cannot bind {host!r} ({exc.strerror})") from None


def _check_listen_address(value: str) -> str:
    host, _ = parse_hostport(value, 1)
    check_assignable(host)
    return value


# An address this machine binds: `host:port`, `[v6]:port`, `:port` (every address) or `host`;
# the host must be one of this machine's addresses (the port defaults per use).
ListenAddress = Annotated[str, AfterValidator(_check_listen_address)]


def parse_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An exporter address; IPv4-mapped IPv6 (::ffff:192.0.2.1) is turned into IPv4."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def normalize_address(address: str) -> str:
    """The canonical text of an exporter address (the form used in the metadata cache)."""
    return str(parse_address(address))


# ---- secrets ---------------------------------------------------------------------------


def mask_url(url: str) -> str:
    """`redis://user:secret@host/0` -> `redis://user:***@host/0` (no password: unchanged)."""
    return re.sub(r"^([a-z]+://[^:@/]*):[^@/]*@", r"\1:***@", url)


def _check_redis_url(url: str) -> str:
    shown = mask_url(url)
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"{shown}: write redis://host:port/db, rediss://... or unix:///path")
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError(f"{shown}: unix:// needs a socket path (unix:///run/redis.sock)")
        return url
    if not parts.hostname:
        raise ValueError(f"{shown}: host missing (write redis://host:port/db)")
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ValueError(f"{shown}: the port is not a number between 0 and 65535") from None
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ValueError(f"{shown}: the database {db!r} is not a number (write /0)")
    return url


class RedisURL(Secret[Annotated[str, AfterValidator(_check_redis_url)]]):
    """A Redis URL shown without its password; `get_secret_value()` gives the real URL."""

    def _display(self) -> str:
        return mask_url(self.get_secret_value())


# ---- subnets ---------------------------------------------------------------------------

T = TypeVar("T")


class SubnetMap(Generic[T]):
    """Values keyed by subnet (an address alone is a /32 or /128); `lookup(address)` returns
    the value of the longest matching prefix (a radix tree, py-radix: no scan of the entries)."""

    def __init__(self, entries: Mapping[str, T]) -> None:
        self._tree = radix.Radix()
        seen: dict[str, str] = {}
        for key, value in entries.items():
            try:
                net = ipaddress.ip_network(str(key).strip(), strict=False)
            except ValueError:
                raise ValueError(f"{key!r} is not a subnet or an address") from None
            if (
                isinstance(net, ipaddress.IPv6Network)
                and net.network_address.ipv4_mapped is not None
            ):
                net = ipaddress.ip_network(
                    f"{net.network_address.ipv4_mapped}/{max(0, net.prefixlen - 96)}"
                )
            if str(net) in seen:
                raise ValueError(f"{key!r} and {seen[str(net)]!r} are the same subnet {net}")
            seen[str(net)] = str(key)
            self._tree.add(str(net)).data["value"] = value
        self._len = len(seen)

    def lookup(self, address: str) -> T | None:
        try:
            ip = parse_address(address)
        except ValueError:
            return None
        node = self._tree.search_best(packed=ip.packed)
        return None if node is None else node.data["value"]  # type: ignore[no-any-return]

    def __bool__(self) -> bool:
        return self._len > 0

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[str]:
        return (node.prefix for node in self._tree)


def check_subnets(value: Mapping[str, Any]) -> Any:
    """Validator of a mapping keyed by subnet: a ValueError names the bad key."""
    SubnetMap(value)
    return value


def _check_subnet_list(value: list[str]) -> list[str]:
    SubnetMap(dict.fromkeys(value, True))
    return value


# A configuration mapping keyed by subnets or addresses (`{192.0.2.0/24: ..., 2001:db8::1: ...}`).
SubnetKeyed = Annotated[dict[str, T], AfterValidator(check_subnets)]
# A list of subnets or addresses.
SubnetList = Annotated[list[str], AfterValidator(_check_subnet_list)]

# ---- exporter and interface attributes -------------------------------------------------

ExporterAttribute = Literal["name", "group", "role", "site", "region", "tenant"]
EXPORTER_ATTRIBUTES: tuple[ExporterAttribute, ...] = get_args(ExporterAttribute)
# The text attributes of an interface (what a classifier may set); `speed` is the other one.
InterfaceTextAttribute = Literal["name", "description", "connectivity", "provider", "boundary"]
INTERFACE_TEXT_ATTRIBUTES: tuple[InterfaceTextAttribute, ...] = get_args(InterfaceTextAttribute)
INTERFACE_ATTRIBUTES: tuple[str, ...] = (*INTERFACE_TEXT_ATTRIBUTES, "speed")
# Those stored as string columns (InIfName, ...); the boundary is stored as a number.
INTERFACE_STRING_ATTRIBUTES = tuple(a for a in INTERFACE_TEXT_ATTRIBUTES if a != "boundary")
Boundary = Literal["", "external", "internal"]


class ExporterRecord(ConfigModel):
    """What an exporter is called and where it stands (every EXPORTER_ATTRIBUTES entry)."""

    name: str = ""
    group: str = ""
    role: str = ""
    site: str = ""
    region: str = ""
    tenant: str = ""


class InterfaceRecord(ConfigModel):
    """What an exporter's interface is called (every INTERFACE_ATTRIBUTES entry); `speed` is
    in Mbit/s."""

    name: str = ""
    description: str = ""
    connectivity: str = ""
    provider: str = ""
    boundary: Boundary = ""
    speed: int = Field(0, ge=0)
