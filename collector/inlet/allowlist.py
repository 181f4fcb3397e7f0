"""Which datagram sources the inlet accepts: `inlet.exporters`, a list of subnets.

A datagram whose UDP source is outside every subnet is dropped before it reaches Kafka and
counted in `flowweir_inlet_udp_drops_total{reason="not_allowed"}` (it is not counted per
exporter either, so spoofed sources cannot grow the metrics). The default,
`[0.0.0.0/0, ::/0]`, accepts everything and costs nothing per datagram.
"""

from __future__ import annotations

import ipaddress

EVERYTHING = ("0.0.0.0/0", "::/0")
CACHE_SIZE = 65_536  # distinct sources remembered; past this the cache starts again


def _mapped(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int]:
    """(value, mask) of a subnet in the inlet's 16-byte space (IPv4 mapped as ::ffff:a.b.c.d)."""
    if net.version == 4:
        net = ipaddress.IPv6Network((0xFFFF << 32 | int(net.network_address), 96 + net.prefixlen))
    return int(net.network_address), int(net.netmask)


class AllowList:
    def __init__(self, subnets: list[str] | tuple[str, ...]) -> None:
        nets = [ipaddress.ip_network(s, strict=False) for s in subnets]
        has_v4_all = any(n.version == 4 and n.prefixlen == 0 for n in nets)
        has_v6_all = any(n.version == 6 and n.prefixlen == 0 for n in nets)
        self.everything = has_v4_all and has_v6_all
        self._nets = [_mapped(n) for n in nets]
        self._cache: dict[bytes, bool] = {}

    def allowed(self, address: bytes) -> bool:
        """Is this 16-byte source address inside a subnet of the list?"""
        ok = self._cache.get(address)
        if ok is None:
            value = int.from_bytes(address, "big")
            ok = any(value & mask == net for net, mask in self._nets)
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[address] = ok
        return ok

    def screen(self, values: list[bytes]) -> tuple[list[bytes], list[bytes]]:
        """Envelopes whose source is allowed, and the sources of those refused. Hot path."""
        cache = self._cache
        kept: list[bytes] = []
        refused: list[bytes] = []
        for value in values:
            key = value[12:28]  # the envelope's exporter address
            ok = cache.get(key)
            if ok is None:
                ok = self.allowed(key)
            if ok:
                kept.append(value)
            else:
                refused.append(key)
        return kept, refused
