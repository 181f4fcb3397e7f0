"""Dictionaries the schema ships: IP protocol names and ICMP type/code names.

Rows are kept here (IANA registries, the entries seen in practice) so that the
same data lands on every server: as CSV + XML files on legacy servers, as a
table read by a `CREATE DICTIONARY` on modern ones.

Lookups (same query on both dialects, the name carries the database):

    dictGetString('flowweir.protocols', 'name', toUInt64(Proto))
    dictGetString('flowweir.icmp', 'name', toUInt64(Proto * 65536 + ICMPv4Type * 256 + ICMPv4Code))
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

PROTOCOLS: tuple[tuple[int, str, str], ...] = (
    (0, "HOPOPT", "IPv6 Hop-by-Hop Option"),
    (1, "ICMP", "Internet Control Message"),
    (2, "IGMP", "Internet Group Management"),
    (4, "IPv4", "IPv4 encapsulation"),
    (6, "TCP", "Transmission Control"),
    (8, "EGP", "Exterior Gateway Protocol"),
    (9, "IGP", "any private interior gateway"),
    (17, "UDP", "User Datagram"),
    (27, "RDP", "Reliable Data Protocol"),
    (33, "DCCP", "Datagram Congestion Control Protocol"),
    (41, "IPv6", "IPv6 encapsulation"),
    (43, "IPv6-Route", "Routing Header for IPv6"),
    (44, "IPv6-Frag", "Fragment Header for IPv6"),
    (46, "RSVP", "Reservation Protocol"),
    (47, "GRE", "Generic Routing Encapsulation"),
    (50, "ESP", "Encap Security Payload"),
    (51, "AH", "Authentication Header"),
    (58, "IPv6-ICMP", "ICMP for IPv6"),
    (59, "IPv6-NoNxt", "No Next Header for IPv6"),
    (60, "IPv6-Opts", "Destination Options for IPv6"),
    (88, "EIGRP", "Enhanced Interior Gateway Routing"),
    (89, "OSPFIGP", "OSPF"),
    (94, "IPIP", "IP-within-IP Encapsulation"),
    (97, "ETHERIP", "Ethernet-within-IP Encapsulation"),
    (103, "PIM", "Protocol Independent Multicast"),
    (112, "VRRP", "Virtual Router Redundancy Protocol"),
    (115, "L2TP", "Layer Two Tunneling Protocol"),
    (132, "SCTP", "Stream Control Transmission Protocol"),
    (136, "UDPLite", "UDP-Lite"),
    (137, "MPLS-in-IP", "MPLS in IP"),
    (143, "Ethernet", "Ethernet"),
)

# (protocol, type, code, name): ICMP (1) and ICMPv6 (58).
_ICMP: tuple[tuple[int, int, int, str], ...] = (
    (1, 0, 0, "echo-reply"),
    (1, 3, 0, "net-unreachable"),
    (1, 3, 1, "host-unreachable"),
    (1, 3, 2, "protocol-unreachable"),
    (1, 3, 3, "port-unreachable"),
    (1, 3, 4, "fragmentation-needed"),
    (1, 3, 5, "source-route-failed"),
    (1, 3, 6, "dest-net-unknown"),
    (1, 3, 7, "dest-host-unknown"),
    (1, 3, 9, "net-prohibited"),
    (1, 3, 10, "host-prohibited"),
    (1, 3, 13, "admin-prohibited"),
    (1, 4, 0, "source-quench"),
    (1, 5, 0, "redirect-net"),
    (1, 5, 1, "redirect-host"),
    (1, 8, 0, "echo-request"),
    (1, 9, 0, "router-advertisement"),
    (1, 10, 0, "router-solicitation"),
    (1, 11, 0, "ttl-exceeded"),
    (1, 11, 1, "fragment-reassembly-exceeded"),
    (1, 12, 0, "parameter-problem"),
    (1, 13, 0, "timestamp-request"),
    (1, 14, 0, "timestamp-reply"),
    (58, 1, 0, "no-route"),
    (58, 1, 1, "admin-prohibited"),
    (58, 1, 3, "address-unreachable"),
    (58, 1, 4, "port-unreachable"),
    (58, 2, 0, "packet-too-big"),
    (58, 3, 0, "hop-limit-exceeded"),
    (58, 3, 1, "fragment-reassembly-exceeded"),
    (58, 4, 0, "parameter-problem"),
    (58, 128, 0, "echo-request"),
    (58, 129, 0, "echo-reply"),
    (58, 130, 0, "mld-query"),
    (58, 131, 0, "mld-report"),
    (58, 133, 0, "router-solicitation"),
    (58, 134, 0, "router-advertisement"),
    (58, 135, 0, "neighbor-solicitation"),
    (58, 136, 0, "neighbor-advertisement"),
    (58, 137, 0, "redirect"),
    (58, 143, 0, "mldv2-report"),
)


def icmp_key(proto: int, icmp_type: int, icmp_code: int) -> int:
    """Key of the `icmp` dictionary (the SQL form is in the module docstring)."""
    return proto * 65536 + icmp_type * 256 + icmp_code


@dataclass(frozen=True, slots=True)
class DictionarySpec:
    """A dictionary with a UInt64 key and String attributes, and its rows."""

    name: str  # short name: `protocols` -> `<database>.protocols`
    key: str
    attributes: tuple[str, ...]
    rows: tuple[tuple[int | str, ...], ...]

    @property
    def data_table(self) -> str:
        """Modern servers: the table the dictionary reads (filled by the orchestrator)."""
        return f"dictionary_{self.name}"

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow((self.key, *self.attributes))
        writer.writerows(self.rows)
        return out.getvalue()

    def values_sql(self) -> str:
        def lit(v: int | str) -> str:
            return (
                str(v)
                if isinstance(v, int)
                else "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
            )

        return ", ".join("(" + ", ".join(lit(v) for v in row) + ")" for row in self.rows)


DICTIONARIES: tuple[DictionarySpec, ...] = (
    DictionarySpec("protocols", "proto", ("name", "description"), PROTOCOLS),
    DictionarySpec(
        "icmp",
        "key",
        ("name",),
        tuple((icmp_key(p, t, c), name) for p, t, c, name in _ICMP),
    ),
)
