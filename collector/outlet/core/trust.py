"""Which exporter addresses the outlet may ask the enrichment workers to poll.

The envelope's exporter address is the datagram's UDP source, written by the inlet: a flow
really came from there. An sFlow datagram also names an agent address of its own choosing,
which the decoder uses as the flows' ExporterAddress (unless the input sets
`use-src-addr-for-exporter-addr`). When that agent address is not the source, it is kept as
data but is not trusted: the outlet asks for metadata (and so for SNMP/gNMI polling) only of
addresses some datagram came from, or that a source listed in
`outlet.trust-agent-address-from` (an sFlow relay, a router exporting from another
interface) vouched for. So a datagram cannot make the enrichment workers send a community
string to an address it merely names.

NetFlow v5/v9 and IPFIX carry no exporter address (their source ID / observation domain is
not an address): their exporter is always the datagram's source.
"""

from __future__ import annotations

import ipaddress

from collector.kafka.envelope import DecoderKind, Envelope, bytes_to_address
from collector.metrics.stats import MetricDef, MetricSet, Stats

P = "flowweir_outlet_core_"
TRUST_METRICS = MetricSet(
    MetricDef(
        P + "agent_mismatch_datagrams",
        "sFlow datagrams whose agent address is not their source address (by source): the "
        "agent address is stored as ExporterAddress but never polled for metadata.",
        "counter",
        ("source",),
    ),
    MetricDef(
        P + "untrusted_flows",
        "Flows stored without metadata lookup because their exporter address is not trusted "
        "(reason agent_not_source: no datagram came from it).",
        "counter",
        ("reason",),
    ),
)

_MAPPED = b"\0" * 10 + b"\xff\xff"
# Addresses remembered as datagram sources; past this many the memory starts again (a flood
# of spoofed sources cannot grow it without bound, and real exporters come back at once).
MAX_SOURCES = 100_000


def sflow_agent(payload: bytes) -> bytes | None:
    """The 16-byte agent address of an sFlow v5 datagram, None if it has none (malformed)."""
    if len(payload) < 12 or payload[:4] != b"\0\0\0\x05":
        return None
    kind = payload[7] if payload[4:7] == b"\0\0\0" else 0
    if kind == 1:
        return _MAPPED + payload[8:12]
    if kind == 2 and len(payload) >= 24:
        return payload[8:24]
    return None


class ExporterTrust:
    """Remembers which exporter addresses flows legitimately came from."""

    def __init__(self, trusted_relays: list[str], stats: Stats) -> None:
        self.stats = stats
        self.relays = [ipaddress.ip_network(n, strict=False) for n in trusted_relays]
        self.sources: set[bytes] = set()  # 16-byte addresses
        self.vouched: set[bytes] = set()  # agent addresses claimed by a trusted relay
        self._relay_of: dict[bytes, bool] = {}
        self.mismatches: dict[bytes, int] = {}  # per source, folded into stats by fold()

    def observe(self, env: Envelope) -> Envelope:
        """Note where one datagram came from (called for every envelope before decoding)."""
        source = env.exporter_address
        sources = self.sources
        if source not in sources:
            if len(sources) >= MAX_SOURCES:
                sources.clear()
                self.vouched.clear()
                self._relay_of.clear()
            sources.add(source)
        if env.kind == DecoderKind.SFLOW and not env.use_src_addr:
            agent = sflow_agent(env.payload)
            if agent is not None and agent != source:
                if self._is_relay(source):
                    if len(self.vouched) >= MAX_SOURCES:
                        self.vouched.clear()
                    self.vouched.add(agent)
                else:
                    self.mismatches[source] = self.mismatches.get(source, 0) + 1
        return env

    def _is_relay(self, source: bytes) -> bool:
        known = self._relay_of.get(source)
        if known is None:
            ip = ipaddress.IPv6Address(source)
            addr = ip.ipv4_mapped or ip
            known = self._relay_of[source] = any(
                addr.version == n.version and addr in n for n in self.relays
            )
        return known

    def trusted(self, exporter: bytes) -> bool:
        """May metadata of this 16-byte exporter address be looked up (and so polled)?"""
        return exporter in self.sources or exporter in self.vouched

    def fold(self) -> None:
        """Move the per-source mismatch counts into the metrics."""
        for source, n in self.mismatches.items():
            self.stats.inc(P + "agent_mismatch_datagrams", (bytes_to_address(source),), n)
        self.mismatches.clear()
