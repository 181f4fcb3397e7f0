"""The one definition of the flow columns.

It is the single source for the ClickHouse DDL (orchestrator), the columnar
batch the decoders fill and the outlet inserts, and the tests. Integers stand in
for enumerations (FlowDirection, ForwardingStatus, InIfBoundary) because Enum8 is
the most expensive type for clickhouse-driver to encode.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from collector.config.types import EXPORTER_ATTRIBUTES, INTERFACE_STRING_ATTRIBUTES


class Origin(Enum):
    DECODER = "decoder"  # filled from the datagram by collector/outlet decoders
    ENRICH = "enrich"  # filled by the outlet's enrichment step


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    ch_type: str  # ClickHouse type, for every server version
    dtype: str  # numpy dtype of the batch array ("O" for arrays and strings)
    origin: Origin
    doc: str = ""
    low_cardinality: bool = False  # LowCardinality(String) where the server supports it
    order_key: bool = False  # part of the `flows` sorting key


def _d(name: str, ch_type: str, dtype: str, doc: str = "") -> Column:
    return Column(name, ch_type, dtype, Origin.DECODER, doc)


def _e(name: str, ch_type: str, dtype: str, doc: str = "", lc: bool = False) -> Column:
    return Column(name, ch_type, dtype, Origin.ENRICH, doc, low_cardinality=lc)


IP = "FixedString(16)"  # IPv6, IPv4 mapped (::ffff:a.b.c.d)

DECODER_COLUMNS: tuple[Column, ...] = (
    _d("TimeReceived", "DateTime", "u4", "seconds since the epoch"),
    _d("SamplingRate", "UInt64", "u8", "0 when the exporter did not say"),
    _d("ExporterAddress", IP, "S16"),
    _d("SrcAddr", IP, "S16"),
    _d("DstAddr", IP, "S16"),
    _d("SrcNetMask", "UInt8", "u1"),
    _d("DstNetMask", "UInt8", "u1"),
    _d("NextHop", IP, "S16"),
    _d("SrcAS", "UInt32", "u4"),
    _d("DstAS", "UInt32", "u4"),
    _d("DstASPath", "Array(UInt32)", "O"),
    _d("DstCommunities", "Array(UInt32)", "O"),
    _d("InIf", "UInt32", "u4"),
    _d("OutIf", "UInt32", "u4"),
    _d("SrcVlan", "UInt16", "u2"),
    _d("DstVlan", "UInt16", "u2"),
    _d("EType", "UInt16", "u2", "0x0800 IPv4, 0x86dd IPv6"),
    _d("Proto", "UInt8", "u1"),
    _d("SrcPort", "UInt16", "u2"),
    _d("DstPort", "UInt16", "u2"),
    _d("Bytes", "UInt64", "u8"),
    _d("Packets", "UInt64", "u8"),
    _d("ForwardingStatus", "UInt8", "u1", "RFC 7270: 64 forwarded, 128 dropped, 192 consumed"),
    _d("TCPFlags", "UInt16", "u2"),
    _d("IPTos", "UInt8", "u1"),
    _d("IPTTL", "UInt8", "u1"),
    _d("ICMPv4Type", "UInt8", "u1"),
    _d("ICMPv4Code", "UInt8", "u1"),
    _d("ICMPv6Type", "UInt8", "u1"),
    _d("ICMPv6Code", "UInt8", "u1"),
    _d("FlowDirection", "UInt8", "u1", "0 undefined, 1 ingress, 2 egress"),
    _d("SrcMAC", "UInt64", "u8"),
    _d("DstMAC", "UInt64", "u8"),
    _d("MPLSLabels", "Array(UInt32)", "O"),
    _d("SrcAddrNAT", IP, "S16"),
    _d("DstAddrNAT", IP, "S16"),
    _d("SrcPortNAT", "UInt16", "u2"),
    _d("DstPortNAT", "UInt16", "u2"),
    _d("IngressVRFID", "UInt32", "u4"),
    _d("EgressVRFID", "UInt32", "u4"),
)

_EXPORTER_ATTRS = tuple(a.capitalize() for a in EXPORTER_ATTRIBUTES)
_INTERFACE_ATTRS = tuple(a.capitalize() for a in INTERFACE_STRING_ATTRIBUTES)
_NETWORK_ATTRS = ("Name", "Role", "Site", "Region", "Tenant", "Country", "GeoCity", "GeoState")

ENRICH_COLUMNS: tuple[Column, ...] = (
    *(_e(f"Exporter{a}", "String", "O", lc=True) for a in _EXPORTER_ATTRS),
    *(
        col
        for side in ("In", "Out")
        for col in (
            *(_e(f"{side}If{a}", "String", "O", lc=True) for a in _INTERFACE_ATTRS),
            _e(f"{side}IfSpeed", "UInt32", "u4", "Mbit/s"),
            _e(f"{side}IfBoundary", "UInt8", "u1", "0 undefined, 1 external, 2 internal"),
        )
    ),
    *(
        _e(f"{side}Net{a}", "String", "O", lc=True)
        for side in ("Src", "Dst")
        for a in _NETWORK_ATTRS
    ),
)

COLUMNS: tuple[Column, ...] = DECODER_COLUMNS + ENRICH_COLUMNS
COLUMNS_BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
DECODER_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in DECODER_COLUMNS)

FLOW_DIRECTION = {0: "undefined", 1: "ingress", 2: "egress"}
INTERFACE_BOUNDARY = {0: "undefined", 1: "external", 2: "internal"}
