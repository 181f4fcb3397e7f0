"""Field values decoded from the real captures in ../shared/testdata (see its README)."""

from __future__ import annotations

import numpy as np

from collector.kafka.envelope import FLAG_USE_SRC_ADDR, DecoderKind, address_to_bytes
from collector.metrics.stats import Stats
from collector.outlet.decoder import METRICS, Decoder, FlowBatch, make_envelope
from collector.outlet.decoder.pcap import envelopes, read_udp
from collector.schema.columns import DECODER_COLUMNS
from tests.outlet.decoder.helpers import SFLOW, decode_files, netflow_paths


def _one(rows: list[dict], **want: object) -> dict:
    found = [r for r in rows if all(r[k] == v for k, v in want.items())]
    assert len(found) == 1, f"{len(found)} flows match {want}"
    return found[0]


def test_batch_columns_are_exactly_the_decoder_columns() -> None:
    batch = decode_files(netflow_paths("data"))
    assert list(batch.columns) == [c.name for c in DECODER_COLUMNS]
    for col in DECODER_COLUMNS:
        assert batch.columns[col.name].dtype == np.dtype(col.dtype), col.name
        assert len(batch.columns[col.name]) == batch.n


def test_netflow_v9_with_options_sampling() -> None:
    rows = decode_files(netflow_paths("data")).to_rows()
    assert len(rows) == 4
    first = rows[0]
    assert (first["SrcAddr"], first["SrcPort"]) == ("198.38.121.178", 443)
    assert (first["DstAddr"], first["DstPort"]) == ("91.170.143.87", 19624)
    assert first["SamplingRate"] == 30000
    assert (first["InIf"], first["OutIf"]) == (335, 450)
    assert (first["Bytes"], first["Packets"]) == (1500, 1)
    assert first["ExporterAddress"] == "192.0.2.100"
    assert first["EType"] == 0x0800 and first["Proto"] == 6
    assert (first["SrcNetMask"], first["DstNetMask"]) == (24, 14)
    assert first["NextHop"] == "194.149.174.63"
    assert first["ForwardingStatus"] == 64 and first["FlowDirection"] == 1
    assert all(r["SamplingRate"] == 30000 for r in rows)


def test_netflow_v5() -> None:
    rows = decode_files(netflow_paths("nfv5")).to_rows()
    assert len(rows) == 29
    r = _one(rows, SrcAddr="161.202.212.212", DstAddr="202.152.70.24")
    assert (r["SrcPort"], r["DstPort"], r["Proto"]) == (30104, 11963, 6)
    assert (r["InIf"], r["OutIf"], r["Bytes"], r["Packets"]) == (117, 86, 133, 1)
    assert (r["SrcAS"], r["DstAS"], r["NextHop"]) == (36351, 10101, "61.6.255.150")


def test_ipfix_data_before_template_in_one_datagram() -> None:
    rows = decode_files(netflow_paths("data+templates")).to_rows()
    assert len(rows) == 21
    assert {r["SamplingRate"] for r in rows} == {100}


def test_multiple_sampling_rates_by_sampler_id() -> None:
    rows = decode_files(netflow_paths("multiplesamplingrates")).to_rows()
    assert len(rows) == 12
    assert {r["SamplingRate"] for r in rows} == {2000, 4000}
    r = _one(rows, SrcAddr="ffff::68", DstAddr="ffff::1a", SrcPort=443, DstPort=52616)
    assert r["EType"] == 0x86DD and r["SamplingRate"] in (2000, 4000)


def test_sampling_rate_from_options_interval() -> None:
    rows = decode_files(netflow_paths("samplingrate")).to_rows()
    assert len(rows) == 6 and {r["SamplingRate"] for r in rows} == {2048}


def test_icmp_type_code() -> None:
    rows = decode_files(netflow_paths("icmp")).to_rows()
    r = _one(rows, SrcAddr="203.0.113.4", DstAddr="203.0.113.5")
    assert (r["Proto"], r["ICMPv4Type"], r["ICMPv4Code"]) == (1, 8, 0)


def test_mpls_labels() -> None:
    rows = decode_files(netflow_paths("mpls")).to_rows()
    r = _one(rows, SrcAddr="fd00::1:0:1:7:1", DstAddr="fd00::1:0:1:5:1")
    assert r["MPLSLabels"] == [20005, 524250]
    assert (r["OutIf"], r["FlowDirection"], r["ForwardingStatus"], r["IPTTL"]) == (16, 2, 66, 255)
    assert r["SamplingRate"] == 10 and r["EgressVRFID"] == 1


def test_nat_addresses_and_ports() -> None:
    rows = decode_files(netflow_paths("nat")).to_rows()
    assert len(rows) == 9
    r = rows[0]
    assert (r["SrcAddr"], r["SrcPort"], r["DstAddr"], r["DstPort"]) == (
        "172.16.100.198", 35303, "10.89.87.1", 53,
    )  # fmt: skip
    assert (r["SrcAddrNAT"], r["SrcPortNAT"]) == ("10.143.52.29", 35303)
    assert (r["DstAddrNAT"], r["DstPortNAT"]) == ("10.89.87.1", 53)


def test_physical_interfaces_and_macs() -> None:
    rows = decode_files(netflow_paths("physicalinterfaces")).to_rows()
    assert len(rows) == 8
    r = _one(rows, SrcAddr="147.53.240.75", DstAddr="212.82.101.24", SrcPort=55629)
    assert (r["InIf"], r["Bytes"], r["Packets"], r["SamplingRate"]) == (1342177291, 4506, 3, 1000)
    assert (r["SrcMAC"], r["DstMAC"], r["SrcVlan"]) == ("c0:14:fe:f6:c3:65", "e8:b6:c2:4a:e3:4c", 4)


def test_ipfix_datalink_frame_section() -> None:
    rows = decode_files(netflow_paths("datalink")).to_rows()
    assert len(rows) == 1
    r = rows[0]
    assert (r["SrcAddr"], r["DstAddr"], r["SrcPort"], r["DstPort"]) == (
        "51.51.51.51", "52.52.52.52", 55501, 11777,
    )  # fmt: skip
    assert (r["InIf"], r["SrcVlan"], r["Proto"], r["Packets"]) == (582, 231, 17, 1)
    assert r["SrcMAC"] == "b4:02:16:55:92:f4"


def _sflow(name: str, decoder: Decoder | None = None) -> list[dict]:
    return (decoder or Decoder()).decode(envelopes(SFLOW / f"{name}.pcap")).to_rows()


def test_sflow_1140() -> None:
    rows = _sflow("data-1140")
    assert len(rows) == 5
    assert {r["ExporterAddress"] for r in rows} == {"172.16.0.3"}
    r = _one(rows, SrcAddr="104.26.8.24", DstAddr="45.90.161.46")
    assert (r["SrcPort"], r["DstPort"], r["InIf"], r["OutIf"]) == (443, 56876, 49001, 25)
    assert (r["SrcAS"], r["DstAS"], r["SamplingRate"]) == (13335, 39421, 1024)
    # the IP packet's length (NetFlow's meaning), not the 439-byte frame
    assert (r["Bytes"], r["Packets"], r["ForwardingStatus"]) == (421, 1, 64)
    assert (r["NextHop"], r["SrcNetMask"], r["DstNetMask"], r["DstVlan"]) == (
        "45.90.161.46", 20, 27, 100,
    )  # fmt: skip
    v6 = [r for r in rows if r["EType"] == 0x86DD]
    assert len(v6) == 3 and all(r["SrcVlan"] == 100 and r["DstPort"] == 22 for r in v6)
    path = _one(rows, SrcAddr="45.90.161.148")
    assert path["DstASPath"] == [203698, 6762, 26615] and path["DstAS"] == 26615
    # the gateway's source AS is 0: the gateway's own AS; Bytes from the IP header
    assert (path["SrcAS"], path["Bytes"], path["SrcVlan"]) == (39421, 40, 100)
    assert all(r["Bytes"] == 1500 for r in v6)


def test_sflow_interfaces_and_forwarding_status() -> None:
    local = _sflow("data-local-interface")[0]
    assert (local["InIf"], local["OutIf"], local["ForwardingStatus"]) == (27, 0, 192)
    discard = _sflow("data-discard-interface")[0]
    assert discard["OutIf"] == 0 and 128 <= discard["ForwardingStatus"] < 192
    multiple = _sflow("data-multiple-interfaces")[0]
    assert (multiple["InIf"], multiple["OutIf"], multiple["ForwardingStatus"]) == (27, 0, 64)


def test_sflow_icmp() -> None:
    v4 = _sflow("data-icmpv4")[0]
    assert (v4["SrcAddr"], v4["DstAddr"], v4["Proto"], v4["ICMPv4Type"]) == (
        "203.0.113.4", "203.0.113.5", 1, 8,
    )  # fmt: skip
    v6 = _sflow("data-icmpv6")[0]
    assert (v6["Proto"], v6["ICMPv6Type"], v6["EType"]) == (58, 135, 0x86DD)


def test_sflow_expanded_sample() -> None:
    r = _sflow("data-sflow-expanded-sample")[0]
    assert (r["SrcAddr"], r["DstAddr"], r["SrcPort"], r["DstPort"]) == (
        "52.52.52.52", "53.53.53.53", 22, 52237,
    )  # fmt: skip
    assert (r["InIf"], r["SamplingRate"], r["SrcVlan"], r["NextHop"]) == (
        29001, 1000, 809, "54.54.54.54",
    )  # fmt: skip
    assert (r["SrcAS"], r["DstAS"], r["DstASPath"]) == (203476, 203361, [8218, 29605, 203361])


def test_sflow_raw_ipv4_header() -> None:
    rows = _sflow("data-sflow-raw-ipv4")
    assert len(rows) == 2
    assert {r["DstAddr"] for r in rows} == {"92.222.186.1", "92.222.184.1"}
    assert all(r["Proto"] == 1 and r["Bytes"] == 32 and r["OutIf"] == 2 for r in rows)


def test_sflow_use_source_address() -> None:
    (_, src, _, _, payload), *_ = read_udp(SFLOW / "data-1140.pcap")
    env = make_envelope(payload, src, kind=DecoderKind.SFLOW, flags=FLAG_USE_SRC_ADDR)
    rows = Decoder().decode([env]).to_rows()
    assert {r["ExporterAddress"] for r in rows} == {src}


def test_counters_per_exporter_and_version() -> None:
    stats = Stats(METRICS)
    decoder = Decoder(stats)
    for path in netflow_paths("data"):
        decoder.decode(envelopes(path))
    _sflow("data-1140", decoder)
    assert stats.get("flowweir_outlet_decoder_flows", ("192.0.2.100", "9")) == 4
    assert stats.get("flowweir_outlet_decoder_datagrams", ("192.0.2.100", "9")) == 4
    assert stats.get("flowweir_outlet_decoder_flows", ("172.16.0.3", "sflow5")) == 5
    assert stats.get("flowweir_outlet_decoder_templates", ("192.0.2.100",)) == 2


def test_concat_and_empty() -> None:
    a = decode_files(netflow_paths("nfv5"))
    b = FlowBatch.concat([a, FlowBatch.empty(), a])
    assert b.n == 58 and b.columns["SrcAddr"][29] == a.columns["SrcAddr"][0]
    assert b.columns["ExporterAddress"][0] == address_to_bytes("10.19.144.41")
