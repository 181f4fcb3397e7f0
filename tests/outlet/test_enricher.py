"""The outlet core on decoded flows: network attributes by subnet, GeoIP and ASN from the
MaxMind test databases (../shared/testdata/geoip), the AS number providers in their order,
sampling-rate override and default, and the rejection of flows without a sampling rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from collector.config.root import parse_config
from collector.kafka.envelope import address_to_bytes
from collector.metrics.stats import Stats
from collector.outlet.core.enricher import CORE_METRICS, Enricher
from collector.outlet.decoder.batch import FlowBatch

GEOIP = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "geoip"
CITY_DB, ASN_DB = GEOIP / "GeoLite2-City-Test.mmdb", GEOIP / "GeoLite2-ASN-Test.mmdb"
LONDON = "81.2.69.142"  # GB, London, England in the City test database
TELSTRA = "1.128.0.1"  # AS1221 in the ASN test database
ATT = "12.81.92.1"  # AS7018


def flows(rows: list[dict[str, Any]]) -> FlowBatch:
    """One decoded flow per row: addresses as text, the rest as the decoder's columns."""
    chunks = []
    for row in rows:
        cols: dict[str, Any] = {"InIf": 1, "OutIf": 2, "Bytes": 1000, "Packets": 1}
        for key, value in row.items():
            cols[key] = address_to_bytes(value) if key.endswith(("Addr", "Address")) else value
        chunks.append((1, {k: np.array([v]) for k, v in cols.items()}))
    return FlowBatch.from_chunks(chunks)


def enrich(outlet: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[dict[str, Any], Stats]:
    stats = Stats(CORE_METRICS)
    enricher = Enricher(parse_config({"outlet": outlet}).outlet, stats)
    try:
        return enricher.enrich(flows(rows)), stats
    finally:
        enricher.close()


def column(cols: dict[str, Any], name: str) -> list[Any]:
    return list(cols[name].tolist())


BASE = {"ExporterAddress": "192.0.2.1", "SamplingRate": 10}


def test_network_attributes_come_from_the_longest_matching_subnet():
    outlet = {
        "networks": {
            "10.0.0.0/8": {"name": "corp", "role": "internal", "site": "par"},
            "10.1.0.0/16": {"name": "lab", "tenant": "research", "country": "FR"},
            "2001:db8::/32": {"name": "v6", "region": "eu"},
        }
    }
    rows = [
        {**BASE, "SrcAddr": "10.2.3.4", "DstAddr": "10.1.2.3"},
        {**BASE, "SrcAddr": "2001:db8::1", "DstAddr": "198.51.100.1"},
    ]
    cols, _ = enrich(outlet, rows)
    assert column(cols, "SrcNetName") == ["corp", "v6"]
    assert column(cols, "SrcNetRole") == ["internal", ""]
    assert column(cols, "SrcNetSite") == ["par", ""]
    assert column(cols, "SrcNetRegion") == ["", "eu"]
    assert column(cols, "DstNetName") == ["lab", ""]  # /16 beats /8; nothing for the rest
    assert column(cols, "DstNetTenant") == ["research", ""]
    assert column(cols, "DstNetCountry") == ["FR", ""]


def test_geoip_fills_country_city_state_and_a_subnet_country_wins():
    outlet = {
        "geoip": {"geo-database": str(CITY_DB), "asn-database": str(ASN_DB)},
        "networks": {"81.2.69.0/24": {"name": "london-office", "country": "FR"}},
    }
    rows = [
        {**BASE, "SrcAddr": LONDON, "DstAddr": TELSTRA},
        {**BASE, "SrcAddr": "198.51.100.7", "DstAddr": LONDON},
    ]
    cols, _ = enrich(outlet, rows)
    assert column(cols, "DstNetCountry") == ["", "FR"]  # the configured subnet overrides GeoIP
    assert column(cols, "SrcNetGeoCity") == ["London", ""]
    assert column(cols, "SrcNetGeoState") == ["England", ""]
    assert column(cols, "DstNetName") == ["", "london-office"]
    cols, _ = enrich({"geoip": {"geo-database": str(CITY_DB)}}, rows[:1])
    assert column(cols, "SrcNetCountry") == ["GB"]


def test_a_missing_geoip_database_does_not_stop_flows(caplog):
    cols, _ = enrich(
        {"geoip": {"geo-database": "/nonexistent/City.mmdb"}},
        [{**BASE, "SrcAddr": LONDON, "DstAddr": ATT}],
    )
    assert len(cols["TimeReceived"]) == 1 and column(cols, "SrcNetCountry") == [""]
    assert "cannot open GeoIP database /nonexistent/City.mmdb" in caplog.text


@pytest.mark.parametrize(
    "providers, expected_src, expected_dst",
    [
        # The flow says 64512 (private) for the source and 0 (unknown) for the destination.
        (["flow"], 64512, 0),
        (["flow", "geoip"], 64512, 7018),  # the database fills what the flow left at 0
        (["flow-except-private", "geoip"], 1221, 7018),  # a private ASN is no answer
        (["geoip", "flow"], 1221, 7018),  # the database first
        (["flow-except-private"], 0, 0),
    ],
)
def test_asn_providers_are_tried_in_order(providers, expected_src, expected_dst):
    outlet = {"asn-providers": providers, "geoip": {"asn-database": str(ASN_DB)}}
    row = {**BASE, "SrcAddr": TELSTRA, "DstAddr": ATT, "SrcAS": 64512, "DstAS": 0}
    cols, _ = enrich(outlet, [row])
    assert (column(cols, "SrcAS"), column(cols, "DstAS")) == ([expected_src], [expected_dst])


def test_sampling_rate_override_then_the_exporters_then_the_default():
    outlet = {
        "override-sampling-rate": {"192.0.2.0/28": 100},
        "default-sampling-rate": {"0.0.0.0/0": 1000, "198.51.100.0/24": 500},
    }
    addr = {"SrcAddr": "10.0.0.1", "DstAddr": "10.0.0.2"}
    rows = [
        {**addr, "ExporterAddress": "192.0.2.1", "SamplingRate": 10},  # overridden
        {**addr, "ExporterAddress": "192.0.2.200", "SamplingRate": 10},  # the exporter's own
        {**addr, "ExporterAddress": "192.0.2.200", "SamplingRate": 0},  # the default
        {**addr, "ExporterAddress": "198.51.100.9", "SamplingRate": 0},  # the longest default
    ]
    cols, _ = enrich(outlet, rows)
    assert sorted(column(cols, "SamplingRate")) == sorted([100, 10, 1000, 500])


def test_a_flow_without_sampling_rate_is_counted_and_dropped():
    addr = {"SrcAddr": "10.0.0.1", "DstAddr": "10.0.0.2"}
    rows = [
        {**addr, "ExporterAddress": "192.0.2.1", "SamplingRate": 0, "Bytes": 111},
        {**addr, "ExporterAddress": "192.0.2.1", "SamplingRate": 0, "Bytes": 222},
        {**addr, "ExporterAddress": "192.0.2.2", "SamplingRate": 0, "Bytes": 333},
        {**addr, "ExporterAddress": "192.0.2.3", "SamplingRate": 64, "Bytes": 444},
    ]
    cols, stats = enrich({"default-sampling-rate": {"192.0.2.2/32": 8}}, rows)
    assert sorted(column(cols, "Bytes")) == [333, 444]
    rejected = "flowweir_outlet_core_flows_rejected"
    assert stats.get(rejected, ("192.0.2.1", "no_sampling_rate")) == 2
    assert stats.get(rejected, ("192.0.2.2", "no_sampling_rate")) == 0
    assert stats.get("flowweir_outlet_core_flows_in", ("192.0.2.1",)) == 2
    assert stats.get("flowweir_outlet_core_flows_out", ("192.0.2.1",)) == 0
    assert stats.get("flowweir_outlet_core_flows_out", ("192.0.2.3",)) == 1
