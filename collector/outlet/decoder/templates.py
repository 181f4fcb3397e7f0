"""NetFlow v9 / IPFIX templates, compiled into NumPy structured dtypes, and where they are kept.

A template compiles once (cached by its field list) into a structured dtype over the whole
record plus a plan that turns an array of records into batch columns, so that every record
of a template in a flush is decoded by a handful of vectorised NumPy operations.
"""

from __future__ import annotations

import json
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from collector.kafka.envelope import bytes_to_address

VARIABLE = 0xFFFF
REVERSE_PEN = 29305  # RFC 5103 reverse information elements

Field = tuple[int, int, int]  # (information element, length, enterprise number or 0)


@dataclass(frozen=True, slots=True)
class Template:
    """A data template (`scope_count` = -1) or an options template (scope fields first)."""

    fields: tuple[Field, ...]
    scope_count: int = -1

    @property
    def is_options(self) -> bool:
        return self.scope_count >= 0

    def to_json(self) -> str:
        return json.dumps({"f": [list(f) for f in self.fields], "s": self.scope_count})

    @classmethod
    def from_json(cls, text: str | bytes) -> Template:
        raw = json.loads(text)
        return cls(tuple((int(a), int(b), int(c)) for a, b, c in raw["f"]), int(raw["s"]))


# Information elements (IANA IPFIX numbering, NetFlow v9 shares 1-127) feeding each column,
# first present wins, later ones fill rows where the earlier is zero.
COLUMN_SOURCES: dict[str, tuple[int, ...]] = {
    "Bytes": (1, 85, 23, 231, 312),  # 231: NSEL initiatorOctets, 312: dataLinkFrameSize
    "Packets": (2, 86, 24, 298),  # 298: initiatorPackets
    "SrcAddr": (8, 27),
    "DstAddr": (12, 28),
    "SrcNetMask": (9, 29),
    "DstNetMask": (13, 30),
    "NextHop": (15, 62, 18, 63),
    "SrcAS": (16,),
    "DstAS": (17,),
    "InIf": (10, 252),
    "OutIf": (14, 253),
    "SrcVlan": (58, 243),
    "DstVlan": (59, 254),
    "Proto": (4,),
    "SrcPort": (7, 180, 182),
    "DstPort": (11, 181, 183),
    "ForwardingStatus": (89,),
    "TCPFlags": (6,),
    "IPTos": (5,),
    "IPTTL": (192, 52),
    "SrcMAC": (56, 81),
    "DstMAC": (80, 57),
    "SrcAddrNAT": (225, 281),
    "DstAddrNAT": (226, 282),
    "SrcPortNAT": (227,),
    "DstPortNAT": (228,),
    "IngressVRFID": (234,),
    "EgressVRFID": (235,),
}
IPV4_IES = frozenset({8, 12, 15, 18, 225, 226, 130})
IPV6_IES = frozenset({27, 28, 62, 63, 281, 282, 131})
MAC_IES = frozenset({56, 57, 80, 81})
MPLS_IES = tuple(range(70, 80))
ICMP_TYPECODE_V4, ICMP_TYPECODE_V6 = 32, 139
ICMP_SINGLE = {176: "ICMPv4Type", 177: "ICMPv4Code", 178: "ICMPv6Type", 179: "ICMPv6Code"}
FLOW_DIRECTION, IP_VERSION, ETHERNET_TYPE = 61, 60, 256
SAMPLING_INTERVAL, SAMPLER_RANDOM_INTERVAL = 34, 50
SAMPLER_ID, SELECTOR_ID = 48, 302
PACKET_INTERVAL, PACKET_SPACE = 305, 306
FIRST_SWITCHED, START_SECONDS, START_MILLISECONDS = 22, 150, 152
DATALINK_FRAME_SECTION = 315  # a sampled frame, parsed like an sFlow raw header
NSEL_EVENT = 233  # Cisco ASA firewallEvent: 1 created, 2 deleted, 3 denied, 5 updated
NSEL_CREATED, NSEL_DENIED = 1, 3
# NSEL responder counters: the reverse direction of the connection, as an RFC 5103 biflow
NSEL_REVERSE = {232: 1, 299: 2}
JUNIPER_PEN, JUNIPER_CPID = 2636, 137  # Juniper commonPropertiesId
JUNIPER_FORWARDING_EXCEPTION = 0x02  # CPID type (top 6 of the first 16 bits)
_NEEDED = (
    {ie for ies in COLUMN_SOURCES.values() for ie in ies}
    | set(MPLS_IES)
    | {ICMP_TYPECODE_V4, ICMP_TYPECODE_V6, FLOW_DIRECTION, IP_VERSION, ETHERNET_TYPE}
    | set(ICMP_SINGLE)
    | {SAMPLING_INTERVAL, SAMPLER_RANDOM_INTERVAL, SAMPLER_ID, SELECTOR_ID}
    | {PACKET_INTERVAL, PACKET_SPACE, FIRST_SWITCHED, START_SECONDS, START_MILLISECONDS}
    | {NSEL_EVENT}
)
# RFC 5103: the reverse direction of a biflow, turned into a second flow.
_REVERSE_NEEDED = frozenset({1, 2, 5, 6, 85, 86})


def _as_words(raw: np.ndarray, dtype: Any) -> np.ndarray:
    """(n, k) uint8 rows as (n, k / itemsize) words, without a copy where the rows' bytes are
    contiguous (a field of a structured record array): NumPy copies a 4-byte-wide uint8
    column byte by byte, a uint32 column in one go."""
    try:
        return raw.view(dtype)
    except ValueError:
        return np.ascontiguousarray(raw).view(dtype)


# bytes 8-15 of ::ffff:a.b.c.d as one native uint64: the mapped prefix, and where a.b.c.d goes
_MAPPED_HALF = np.frombuffer(b"\0\0\xff\xff\0\0\0\0", dtype=np.uint64)[0]
_ADDRESS_SHIFT = 32 if sys.byteorder == "little" else 0


def ipv4_to_s16(raw: np.ndarray) -> np.ndarray:
    """(n, 4) uint8 -> S16 IPv4-mapped addresses."""
    half = _as_words(raw, np.uint32)[:, 0].astype(np.uint64)  # one strided read, then whole
    half <<= _ADDRESS_SHIFT  # words: twice as fast as filling 32-bit columns of the output
    half |= _MAPPED_HALF
    out = np.zeros((raw.shape[0], 2), dtype=np.uint64)
    out[:, 1] = half
    return out.view("S16").ravel()


def ipv6_to_s16(raw: np.ndarray) -> np.ndarray:
    if raw.dtype != np.uint8:
        raw = raw.astype(np.uint8)
    return np.ascontiguousarray(_as_words(raw, np.uint64)).view("S16").ravel()


def be_bytes_to_u8(raw: np.ndarray) -> np.ndarray:
    """(n, L<=8) big-endian uint8 -> uint64."""
    n, width = raw.shape
    out = np.zeros((n, 8), dtype=np.uint8)
    out[:, 8 - width :] = raw
    return out.view(">u8").ravel().astype(np.uint64)


class Compiled:
    """A template turned into a structured dtype and a decoding plan. Hot path."""

    def __init__(self, template: Template) -> None:
        names: list[str] = []
        formats: list[Any] = []
        offsets: list[int] = []
        self.kinds: dict[int, str] = {}  # ie -> "u" (uint), "u*" (odd length), "a4", "a16", "mac"
        self.reverse: dict[int, str] = {}
        self.juniper: list[str] = []  # Juniper commonPropertiesId fields
        offset = 0
        variable = False
        for ie, length, pen in template.fields:
            if length == VARIABLE:
                variable = True
                break
            if pen == 0 and ie in _NEEDED and ie not in self.kinds:
                kind = _kind(ie, length)
                if kind is not None:
                    fmt = f">u{length}" if kind == "u" else ("u1", (length,))
                    names.append(f"f{ie}")
                    formats.append(fmt)
                    offsets.append(offset)
                    self.kinds[ie] = kind
            elif (pen == REVERSE_PEN and ie in _REVERSE_NEEDED) or (
                pen == 0 and ie in NSEL_REVERSE
            ):
                rie = ie if pen else NSEL_REVERSE[ie]
                kind = _kind(rie, length)
                if kind is not None and rie not in self.reverse:
                    fmt = f">u{length}" if kind == "u" else ("u1", (length,))
                    names.append(f"r{rie}")
                    formats.append(fmt)
                    offsets.append(offset)
                    self.reverse[rie] = f"r{rie}"
            elif pen == JUNIPER_PEN and ie == JUNIPER_CPID and 2 <= length <= 8:
                name = f"j{len(self.juniper)}"
                names.append(name)
                formats.append(("u1", (length,)))
                offsets.append(offset)
                self.juniper.append(name)
            offset += length
        self.variable = variable
        self.record_length = offset
        self.min_length = sum(1 if ln == VARIABLE else ln for _, ln, _ in template.fields)
        self.dtype = np.dtype(
            {"names": names, "formats": formats, "offsets": offsets, "itemsize": max(offset, 1)}
        )
        # fixed-length data template: its sets take the short path of NetflowDecoder.walk
        self.fast = not variable and offset > 0 and template.scope_count < 0
        self.time_field = next(
            (ie for ie in (START_SECONDS, START_MILLISECONDS, FIRST_SWITCHED) if ie in self.kinds),
            None,
        )

    def uint(self, arr: np.ndarray, ie: int, prefix: str = "f") -> np.ndarray:
        kind = self.kinds[ie] if prefix == "f" else "u"
        value = arr[f"{prefix}{ie}"]
        if kind == "u*" or value.ndim == 2:
            return be_bytes_to_u8(value)
        return value

    def address(self, arr: np.ndarray, ie: int) -> tuple[np.ndarray, np.ndarray]:
        """(S16 addresses, rows where the raw value is all zero)."""
        raw = arr[f"f{ie}"]
        zero = np.asarray(~_as_words(raw, np.uint32).any(axis=1))
        return (ipv4_to_s16(raw) if raw.shape[1] == 4 else ipv6_to_s16(raw)), zero

    def columns(self, arr: np.ndarray) -> dict[str, Any]:
        """Batch columns for an array of records of this template. Hot path."""
        cols: dict[str, Any] = {}
        kinds = self.kinds
        for column, ies in COLUMN_SOURCES.items():
            present = [ie for ie in ies if ie in kinds]
            if not present:
                continue
            first = present[0]
            kind = kinds[first]
            if kind in ("a4", "a16"):
                if len(present) == 1:
                    raw = arr[f"f{first}"]
                    cols[column] = ipv4_to_s16(raw) if kind == "a4" else ipv6_to_s16(raw)
                    continue
                value, zero = self.address(arr, first)
                for other in present[1:]:
                    if kinds[other] in ("a4", "a16"):
                        alt, _ = self.address(arr, other)
                        value = np.where(zero, alt, value)
                cols[column] = value
            elif kind == "mac":
                cols[column] = be_bytes_to_u8(arr[f"f{first}"])
            else:
                value = self.uint(arr, first)
                for other in present[1:]:
                    if kinds[other] in ("u", "u*"):
                        value = np.where(value == 0, self.uint(arr, other), value)
                cols[column] = value
        if "ForwardingStatus" in cols:
            cols["ForwardingStatus"] = cols["ForwardingStatus"] & 0xFF
        if self.juniper:
            self._juniper(arr, cols)
        if NSEL_EVENT in kinds:
            event = self.uint(arr, NSEL_EVENT)
            # a "created" event carries no traffic yet: its bytes come with the updates and
            # the teardown (deltas), so counting it too would count the connection twice
            cols["_keep"] = event != NSEL_CREATED
            denied = event == NSEL_DENIED
            if denied.any():
                cols["ForwardingStatus"] = np.where(
                    denied, 129, cols.get("ForwardingStatus", 64)
                ).astype(np.uint8)  # 129: dropped, ACL deny (RFC 7270)
        if FLOW_DIRECTION in kinds:
            cols["FlowDirection"] = self.uint(arr, FLOW_DIRECTION).astype(np.uint8) + 1
        # EType: from ethernetType, ipVersion, or which address family the template carries.
        if ETHERNET_TYPE in kinds:
            cols["EType"] = self.uint(arr, ETHERNET_TYPE)
        elif IP_VERSION in kinds:
            v = self.uint(arr, IP_VERSION)
            cols["EType"] = np.where(v == 6, 0x86DD, np.where(v == 4, 0x0800, 0))
        else:
            v4 = 8 in kinds or 12 in kinds
            v6 = 27 in kinds or 28 in kinds
            if v4 and v6:
                v6rows = arr["f27"].any(axis=1) if 27 in kinds else arr["f28"].any(axis=1)
                cols["EType"] = np.where(v6rows, 0x86DD, 0x0800)
            elif v4:
                cols["EType"] = 0x0800
            elif v6:
                cols["EType"] = 0x86DD
        if ICMP_TYPECODE_V4 in kinds:
            tc = self.uint(arr, ICMP_TYPECODE_V4)
            cols["ICMPv4Type"], cols["ICMPv4Code"] = tc >> 8, tc & 0xFF
        if ICMP_TYPECODE_V6 in kinds:
            tc = self.uint(arr, ICMP_TYPECODE_V6)
            cols["ICMPv6Type"], cols["ICMPv6Code"] = tc >> 8, tc & 0xFF
        for ie, column in ICMP_SINGLE.items():
            if ie in kinds:
                cols[column] = self.uint(arr, ie)
        if (
            "Proto" in cols
            and "DstPort" in cols
            and not any(ie in kinds for ie in (ICMP_TYPECODE_V4, ICMP_TYPECODE_V6, *ICMP_SINGLE))
        ):  # many exporters put ICMP type * 256 + code in the destination port
            proto, port = cols["Proto"], cols["DstPort"]
            for p, t, c in ((1, "ICMPv4Type", "ICMPv4Code"), (58, "ICMPv6Type", "ICMPv6Code")):
                icmp = proto == p
                if icmp.any():
                    cols[t] = np.where(icmp, port >> 8, 0)
                    cols[c] = np.where(icmp, port & 0xFF, 0)
        if any(ie in kinds for ie in MPLS_IES):
            cols["MPLSLabels"] = self._mpls(arr)
        return cols

    def _juniper(self, arr: np.ndarray, cols: dict[str, Any]) -> None:
        """Forwarding exception details with a non-zero code: the packet was dropped (128)."""
        dropped = np.zeros(len(arr), dtype=bool)
        for name in self.juniper:
            raw = arr[name]
            first16 = (raw[:, 0].astype(np.uint32) << 8) | raw[:, 1]
            dropped |= ((first16 >> 10) == JUNIPER_FORWARDING_EXCEPTION) & ((first16 & 0x3FF) != 0)
        if dropped.any():
            status = cols.get("ForwardingStatus", 64)
            cols["ForwardingStatus"] = np.where(dropped, 128, status).astype(np.uint8)

    def _mpls(self, arr: np.ndarray) -> np.ndarray:
        stack = [self.uint(arr, ie) for ie in MPLS_IES if ie in self.kinds]
        values = np.stack(stack, axis=1)  # (n, depth) of 24-bit label entries
        out = np.empty(values.shape[0], dtype=object)
        for i, row in enumerate(values.tolist()):
            labels = []
            for entry in row:
                if entry == 0:
                    break
                labels.append((entry >> 4) & 0xFFFFF)  # 20-bit label of a 3-byte entry
                if entry & 1:  # bottom of stack
                    break
            out[i] = np.array(labels, dtype=np.uint32)
        return out

    def sampling(self, arr: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(rate per record or None, sampler id per record or None)."""
        rate = None
        for ie in (SAMPLING_INTERVAL, SAMPLER_RANDOM_INTERVAL):
            if ie in self.kinds:
                r = self.uint(arr, ie).astype(np.uint64)
                rate = r if rate is None else np.where(rate == 0, r, rate)
        if PACKET_INTERVAL in self.kinds:
            p = self.uint(arr, PACKET_INTERVAL).astype(np.uint64)
            s = self.uint(arr, PACKET_SPACE).astype(np.uint64) if PACKET_SPACE in self.kinds else 0
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(p > 0, (p + s) // np.maximum(p, 1), 0).astype(np.uint64)
            rate = r if rate is None else np.where(rate == 0, r, rate)
        sampler = None
        for ie in (SAMPLER_ID, SELECTOR_ID):
            if ie in self.kinds:
                sampler = self.uint(arr, ie).astype(np.uint64)
                break
        return rate, sampler

    def reverse_columns(self, arr: np.ndarray, cols: dict[str, Any]) -> tuple[np.ndarray, dict]:
        """RFC 5103 biflows: (rows with reverse traffic, columns of the reverse flows)."""
        rbytes = np.zeros(len(arr), dtype=np.uint64)
        rpackets = np.zeros(len(arr), dtype=np.uint64)
        for ie in (1, 85):
            if ie in self.reverse:
                rbytes = np.where(rbytes == 0, self.uint(arr, ie, "r"), rbytes)
        for ie in (2, 86):
            if ie in self.reverse:
                rpackets = np.where(rpackets == 0, self.uint(arr, ie, "r"), rpackets)
        rows = np.flatnonzero((rbytes > 0) | (rpackets > 0))
        rev: dict[str, Any] = {}
        for name, value in cols.items():
            rev[name] = value[rows] if isinstance(value, np.ndarray) else value
        for a, b in _SWAPS:
            va, vb = rev.pop(a, None), rev.pop(b, None)
            if vb is not None:
                rev[a] = vb
            if va is not None:
                rev[b] = va
        rev["Bytes"], rev["Packets"] = rbytes[rows], rpackets[rows]
        for ie, column in ((5, "IPTos"), (6, "TCPFlags")):  # reverse ToS and TCP flags
            if ie in self.reverse:
                rev[column] = self.uint(arr, ie, "r")[rows]
        return rows, rev


_SWAPS = (
    ("SrcAddr", "DstAddr"),
    ("SrcNetMask", "DstNetMask"),
    ("SrcAS", "DstAS"),
    ("InIf", "OutIf"),
    ("SrcPort", "DstPort"),
    ("SrcVlan", "DstVlan"),
    ("SrcMAC", "DstMAC"),
    ("SrcAddrNAT", "DstAddrNAT"),
    ("SrcPortNAT", "DstPortNAT"),
    ("IngressVRFID", "EgressVRFID"),
)


def _kind(ie: int, length: int) -> str | None:
    if ie in IPV4_IES or ie in IPV6_IES:
        return {4: "a4", 16: "a16"}.get(length)
    if ie in MAC_IES:
        return "mac" if length == 6 else None
    if length in (1, 2, 4, 8):
        return "u"
    if 0 < length < 8:
        return "u*"
    return None


@lru_cache(maxsize=4096)
def compile_template(template: Template) -> Compiled:
    """Compiled form of a template, shared by every exporter sending the same field list."""
    return Compiled(template)


def strip_variable(template: Template) -> Template:
    """The fixed-length part of a template with variable-length fields (decoded record by record)."""
    return Template(tuple(f for f in template.fields if f[1] != VARIABLE), template.scope_count)


# ---------------------------------------------------------------------------------------------
# Persistence: templates and sampling rates shared by every outlet process.

TemplateKey = tuple[bytes, int, int]  # (exporter address, observation domain / source id, id)
Changes = dict[TemplateKey, "Template | None"]  # templates to write; None: to delete
# (exporter, domain) -> sampler -> rate; a rate of 0: forget the sampler (evicted)
RateChanges = dict[tuple[bytes, int], dict[int, int]]


class TemplateStore(Protocol):
    """Where templates and sampling rates live beyond one Decoder (for restarts, rebalances)."""

    def load_template(self, exporter: bytes, domain: int, tid: int) -> Template | None: ...
    def save_template(self, exporter: bytes, domain: int, tid: int, template: Template) -> None: ...
    def delete_template(self, exporter: bytes, domain: int, tid: int) -> None: ...
    def load_sampling(self, exporter: bytes, domain: int) -> dict[int, int]: ...
    def save_sampling(self, exporter: bytes, domain: int, sampler: int, rate: int) -> None: ...
    def load_templates(self, keys: list[TemplateKey]) -> list[Template | None]: ...
    def load_samplings(self, exporter: bytes) -> dict[int, dict[int, int]]: ...
    def save_batch(
        self, templates: Changes, rates: RateChanges, touch: set[bytes], ttl: float
    ) -> None:
        """Write (None: delete) templates and sampling rates, and make the keys of the
        exporters written or in `touch` expire `ttl` seconds from now. One round trip."""


@dataclass
class MemoryTemplateStore:
    """In-process store (the default): state lives as long as the process, the oldest
    templates forgotten past `max_templates`."""

    templates: OrderedDict[TemplateKey, Template] = field(default_factory=OrderedDict)
    rates: OrderedDict[tuple[bytes, int], dict[int, int]] = field(default_factory=OrderedDict)
    max_templates: int = 200_000

    def _bound(self) -> None:
        # popitem, not del d[next(iter(d))]: a plain dict's first live entry is found by
        # skipping the deleted ones, a pass over them each time
        while len(self.templates) > self.max_templates:
            self.templates.popitem(last=False)
        while len(self.rates) > self.max_templates:
            self.rates.popitem(last=False)

    def load_template(self, exporter: bytes, domain: int, tid: int) -> Template | None:
        return self.templates.get((exporter, domain, tid))

    def save_template(self, exporter: bytes, domain: int, tid: int, template: Template) -> None:
        self.templates[(exporter, domain, tid)] = template

    def delete_template(self, exporter: bytes, domain: int, tid: int) -> None:
        self.templates.pop((exporter, domain, tid), None)

    def load_sampling(self, exporter: bytes, domain: int) -> dict[int, int]:
        return dict(self.rates.get((exporter, domain), {}))

    def save_sampling(self, exporter: bytes, domain: int, sampler: int, rate: int) -> None:
        self.rates.setdefault((exporter, domain), {})[sampler] = rate

    def load_templates(self, keys: list[TemplateKey]) -> list[Template | None]:
        return [self.templates.get(k) for k in keys]

    def load_samplings(self, exporter: bytes) -> dict[int, dict[int, int]]:
        return {d: dict(r) for (e, d), r in self.rates.items() if e == exporter}

    def save_batch(
        self, templates: Changes, rates: RateChanges, touch: set[bytes], ttl: float
    ) -> None:
        for key, template in templates.items():
            if template is None:
                self.templates.pop(key, None)
            else:
                self.templates[key] = template
        for rkey, table in rates.items():
            kept = self.rates.setdefault(rkey, {})
            for sampler, rate in table.items():
                if rate:
                    kept[sampler] = rate
                else:
                    kept.pop(sampler, None)
        self._bound()


class RedisTemplateStore:
    """Templates and sampling rates in Redis, shared by all outlets.

    Keys (version prefix so a format change never reads old values):
    `{prefix}:templates:{exporter}` hash `{domain}:{template id}` -> template JSON, and
    `{prefix}:sampling:{exporter}` hash `{domain}:{sampler id}` -> rate.
    """

    def __init__(self, client: Any, prefix: str = "flowweir:v1:decoder") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "flowweir:v1:decoder") -> RedisTemplateStore:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2), prefix)

    def _key(self, what: str, exporter: bytes) -> str:
        return f"{self.prefix}:{what}:{bytes_to_address(exporter)}"

    def load_template(self, exporter: bytes, domain: int, tid: int) -> Template | None:
        raw = self.client.hget(self._key("templates", exporter), f"{domain}:{tid}")
        return None if raw is None else Template.from_json(raw)

    def save_template(self, exporter: bytes, domain: int, tid: int, template: Template) -> None:
        self.client.hset(self._key("templates", exporter), f"{domain}:{tid}", template.to_json())

    def delete_template(self, exporter: bytes, domain: int, tid: int) -> None:
        self.client.hdel(self._key("templates", exporter), f"{domain}:{tid}")

    def load_sampling(self, exporter: bytes, domain: int) -> dict[int, int]:
        raw = self.client.hgetall(self._key("sampling", exporter))
        out: dict[int, int] = {}
        for k, v in raw.items():
            d, _, sampler = (k.decode() if isinstance(k, bytes) else k).partition(":")
            if int(d) == domain:
                out[int(sampler)] = int(v)
        return out

    def save_sampling(self, exporter: bytes, domain: int, sampler: int, rate: int) -> None:
        self.client.hset(self._key("sampling", exporter), f"{domain}:{sampler}", str(rate))

    def load_templates(self, keys: list[TemplateKey]) -> list[Template | None]:
        by_exporter: dict[bytes, list[int]] = {}  # one HMGET per exporter, one round trip
        for i, key in enumerate(keys):
            by_exporter.setdefault(key[0], []).append(i)
        pipe = self.client.pipeline(transaction=False)
        for exporter, rows in by_exporter.items():
            fields = [f"{keys[i][1]}:{keys[i][2]}" for i in rows]
            pipe.hmget(self._key("templates", exporter), fields)
        out: list[Template | None] = [None] * len(keys)
        for rows, values in zip(by_exporter.values(), pipe.execute(), strict=True):
            for i, raw in zip(rows, values, strict=True):
                out[i] = None if raw is None else Template.from_json(raw)
        return out

    def load_samplings(self, exporter: bytes) -> dict[int, dict[int, int]]:
        out: dict[int, dict[int, int]] = {}
        for k, v in self.client.hgetall(self._key("sampling", exporter)).items():
            d, _, sampler = (k.decode() if isinstance(k, bytes) else k).partition(":")
            out.setdefault(int(d), {})[int(sampler)] = int(v)
        return out

    def save_batch(
        self, templates: Changes, rates: RateChanges, touch: set[bytes], ttl: float
    ) -> None:
        pipe = self.client.pipeline(transaction=False)
        exporters = set(touch)
        writes: dict[str, dict[str, str]] = {}
        for (exporter, domain, tid), template in templates.items():
            key = self._key("templates", exporter)
            exporters.add(exporter)
            if template is None:
                pipe.hdel(key, f"{domain}:{tid}")
            else:
                writes.setdefault(key, {})[f"{domain}:{tid}"] = template.to_json()
        for (exporter, domain), table in rates.items():
            exporters.add(exporter)
            key = self._key("sampling", exporter)
            writes.setdefault(key, {}).update(
                {f"{domain}:{s}": str(r) for s, r in table.items() if r}
            )
            gone = [f"{domain}:{s}" for s, r in table.items() if not r]
            if gone:  # evicted samplers: the store keeps no more than the decoder
                pipe.hdel(key, *gone)
        for key, mapping in writes.items():
            if mapping:
                pipe.hset(key, mapping=mapping)
        seconds = max(1, int(ttl))
        for exporter in exporters:  # quiet exporters' keys go away by themselves
            pipe.expire(self._key("templates", exporter), seconds)
            pipe.expire(self._key("sampling", exporter), seconds)
        pipe.execute()
