"""Exporters are who they say: an sFlow agent address that is not the datagram's source is
stored but never polled; the enrichment workers poll only inside their configured subnets."""

from __future__ import annotations

import socket
from pathlib import Path

from collector.devservices.base import wait_for
from collector.outlet.decoder.pcap import read_udp
from tests.enrich.conftest import worker_metric
from tests.outlet.pipeline.conftest import Pipeline

SFLOW_1140 = Path(__file__).resolve().parents[2] / "../shared/testdata/sflow/data-1140.pcap"
CLAIMED = "172.16.0.3"  # the agent address written in data-1140.pcap (5 flow samples)


def _sflow_payloads() -> tuple[bytes, bytes]:
    """(datagram naming agent 172.16.0.3, the same datagram naming agent 127.0.0.1)."""
    (payload,) = [p for *_, p in read_udp(SFLOW_1140)]
    assert payload[8:12] == socket.inet_aton(CLAIMED)
    return payload, payload[:8] + socket.inet_aton("127.0.0.1") + payload[12:]


def test_sflow_agent_that_is_not_the_source_is_stored_but_never_polled(
    kafka_broker, clickhouse_server, redis_server, snmpd, udp_counter, deploy, tmp_path
):
    legit = udp_counter(forward=snmpd.port)  # SNMP requests for 127.0.0.1, relayed to snmpd
    claimed = udp_counter()  # every SNMP request for the claimed address would land here
    d = deploy(
        {
            "providers": ["snmp"],
            "snmp": {
                "timeout": 0.5,
                "retries": 0,
                # Both addresses are in the workers' scope: only the outlet stands in the way.
                "communities": {"127.0.0.1/32": ["public"], "172.16.0.0/24": ["public"]},
                "ports": {"127.0.0.1/32": legit.port, f"{CLAIMED}/32": claimed.port},
                "agents": {CLAIMED: "127.0.0.1"},
            },
        },
        client={"initial-delay": "20s"},
    )
    d.worker()
    pipeline = Pipeline(kafka_broker, clickhouse_server, redis_server, tmp_path)
    pipeline.base["enrich"] = d.data["enrich"]
    pipeline.base["redis"] = {"url": d.redis_url}
    try:
        pipeline.orchestrate()
        pipeline.inlet()
        outlet = pipeline.outlet(metadata="enrich", enrichment=d.data["outlet"]["enrichment"])
        spoofed, honest = _sflow_payloads()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(spoofed, ("127.0.0.1", pipeline.sflow_port))  # from 127.0.0.1
            sock.sendto(honest, ("127.0.0.1", pipeline.sflow_port))
        assert pipeline.wait_rows("flows", 10) == 10
        rows = pipeline.query(
            "SELECT IPv6NumToString(ExporterAddress), ExporterName, count() FROM flows "
            "GROUP BY ExporterAddress, ExporterName ORDER BY ExporterName"
        )
        # The claimed agent address is kept as data, with no name (never looked up); the
        # honest datagram's exporter is named by SNMP.
        assert [tuple(r) for r in rows] == [
            (f"::ffff:{CLAIMED}", "", 5),
            ("::ffff:127.0.0.1", "snmpd-router", 5),
        ]
        assert legit.count >= 1
        assert claimed.count == 0  # no SNMP request ever left for 172.16.0.3
        assert worker_metric(d, "flowweir_enrich_provider_out_of_scope", ("snmp",)) == 0
        # ... and the outlet says why.
        mismatch = "flowweir_outlet_core_agent_mismatch_datagrams_total"
        assert outlet.wait_metric(mismatch, 1, source="127.0.0.1") == 1
        untrusted = "flowweir_outlet_core_untrusted_flows_total"
        assert outlet.wait_metric(untrusted, 5, reason="agent_not_source") == 5
    finally:
        pipeline.stop()


def test_workers_never_poll_an_exporter_outside_their_subnets(deploy, udp_counter):
    agent = udp_counter()  # what any SNMP request for 198.51.100.9 would reach
    d = deploy(
        {
            "providers": ["snmp"],
            "snmp": {
                "timeout": 0.3,
                "retries": 0,
                "communities": {"192.0.2.0/24": ["public"]},  # not 198.51.100.9
                "ports": {"198.51.100.9": agent.port},
                "agents": {"198.51.100.9": "127.0.0.1"},
            },
        },
        client={"initial-delay": 0, "query-timeout": "10s"},
    )
    d.worker()
    client, _ = d.client()
    md = client.lookup("198.51.100.9", 1)  # an outlet asks: the worker refuses, answers missing
    assert md is not None and not md.found and md.exporter.name == ""
    wait_for(
        lambda: worker_metric(d, "flowweir_enrich_provider_out_of_scope", ("snmp",)) == 1,
        10,
        "the out-of-scope counter",
    )
    assert agent.count == 0
    log = d.procs[0].log_path.read_text()
    assert "exporter 198.51.100.9 is outside every subnet of enrich.snmp.communities" in log


def test_no_default_scope_for_snmp_or_gnmi():
    from enrich.config import EnrichConfig
    from enrich.providers.gnmi import GNMIProvider
    from enrich.providers.snmp import SNMPProvider

    config = EnrichConfig()
    assert config.snmp.communities == {}
    assert not SNMPProvider(config.snmp).in_scope("192.0.2.1")
    assert not GNMIProvider(config.gnmi).in_scope("192.0.2.1")
    scoped = EnrichConfig.model_validate(
        {
            "snmp": {
                "communities": {"192.0.2.0/24": ["public"]},
                "security-parameters": {"198.51.100.0/24": {"user-name": "u"}},
            },
            "gnmi": {"targets": {"203.0.113.0/24": ""}},
        }
    )
    snmp = SNMPProvider(scoped.snmp)
    assert snmp.in_scope("192.0.2.1") and snmp.in_scope("198.51.100.1")
    assert not snmp.in_scope("203.0.113.1")
    assert GNMIProvider(scoped.gnmi).in_scope("203.0.113.1")


def test_trust_of_sources_relays_and_the_use_source_flag():
    from collector.kafka.envelope import FLAG_USE_SRC_ADDR, address_to_bytes
    from collector.metrics.stats import Stats
    from collector.outlet.core.trust import TRUST_METRICS, ExporterTrust
    from collector.outlet.decoder.decoder import make_envelope

    spoofed, _ = _sflow_payloads()
    stats = Stats(TRUST_METRICS)
    trust = ExporterTrust(["10.0.0.0/24"], stats)
    claimed = address_to_bytes(CLAIMED)
    trust.observe(make_envelope(spoofed, "192.0.2.1"))  # a router naming another address
    trust.observe(make_envelope(spoofed, "192.0.2.2", flags=FLAG_USE_SRC_ADDR))  # not used
    assert trust.trusted(address_to_bytes("192.0.2.1"))  # a source is always trusted
    assert not trust.trusted(claimed)
    trust.observe(make_envelope(spoofed, "10.0.0.7"))  # a relay listed in the config vouches
    assert trust.trusted(claimed)
    trust.fold()
    assert stats.get("flowweir_outlet_core_agent_mismatch_datagrams", ("192.0.2.1",)) == 1
    assert stats.get("flowweir_outlet_core_agent_mismatch_datagrams", ("192.0.2.2",)) == 0
    assert stats.get("flowweir_outlet_core_agent_mismatch_datagrams", ("10.0.0.7",)) == 0
    # An IPv6 agent address (address type 2) is read as well; a truncated one is ignored.
    v6 = spoofed[:4] + b"\0\0\0\x02" + address_to_bytes("2001:db8::9") + spoofed[12:]
    trust.observe(make_envelope(v6, "2001:db8::1"))
    trust.observe(make_envelope(v6[:20], "2001:db8::1"))
    trust.fold()
    assert stats.get("flowweir_outlet_core_agent_mismatch_datagrams", ("2001:db8::1",)) == 1
    assert not trust.trusted(address_to_bytes("2001:db8::9"))
