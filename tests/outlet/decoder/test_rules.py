"""The decoder's deliberate rules (README.md), case by case, on frames checked with tshark."""

from __future__ import annotations

import struct

import pytest

from collector.metrics.stats import Stats
from collector.outlet.decoder import METRICS, Decoder, decode_datagrams, make_envelope
from tests.outlet.decoder import frames as f

ERR = "flowweir_outlet_decoder_errors"
AGENT = "192.0.2.50"


def _rows(datagram: bytes, decapsulation: str | None = None, stats: Stats | None = None) -> list:
    decoder = Decoder(stats)
    return decode_datagrams([datagram], AGENT, decoder, decapsulation=decapsulation).to_rows()


def _sample(frame: bytes, *records: tuple[int, bytes]) -> bytes:
    return f.sflow(f.flow_sample([f.raw_header(frame), *records]))


V4_TCP = f.eth(0x0800, f.ip4("198.51.100.1", "203.0.113.9", 6, f.tcp(443, 40000)))
V6_UDP = f.eth(0x86DD, f.ip6("2001:db8::1", "2001:db8::2", 17, f.udp(5353, 53)))


# --- Bytes, VLANs, AS ------------------------------------------------------------------------


def test_sflow_bytes_are_the_ip_length_like_netflow() -> None:
    oracle = f.tshark_fields([V4_TCP, V6_UDP], ["ip.len", "ipv6.plen"])
    (v4,) = _rows(_sample(V4_TCP))
    (v6,) = _rows(_sample(V6_UDP))
    assert v4["Bytes"] == int(oracle[0]["ip.len"][0]) == len(V4_TCP) - 14
    assert v6["Bytes"] == int(oracle[1]["ipv6.plen"][0]) + 40 == len(V6_UDP) - 14


def test_qinq_reports_the_inner_customer_tag() -> None:
    frame = f.eth(0x0800, f.ip4("10.0.0.1", "10.0.0.2", 17, f.udp(1, 2)), vlans=(10, 20))
    oracle = f.tshark_fields([frame], ["ieee8021ad.id", "vlan.id"])
    (row,) = _rows(_sample(frame))
    assert (oracle[0]["ieee8021ad.id"], oracle[0]["vlan.id"]) == (["10"], ["20"])
    assert (row["SrcVlan"], row["DstVlan"], row["SrcAddr"]) == (20, 0, "10.0.0.1")


def test_vlan_of_the_header_in_an_expanded_sample_when_the_switch_gives_none() -> None:
    frame = f.eth(0x0800, f.ip4("10.0.0.1", "10.0.0.2", 6, f.tcp(1, 2)), vlans=(300,))
    no_vlan = f.sflow(f.expanded_sample([f.raw_header(frame), f.switch(0, 0)]))
    with_vlan = f.sflow(f.expanded_sample([f.raw_header(frame), f.switch(200, 201)]))
    assert _rows(no_vlan)[0]["SrcVlan"] == 300
    assert (_rows(with_vlan)[0]["SrcVlan"], _rows(with_vlan)[0]["DstVlan"]) == (200, 201)


@pytest.mark.parametrize(("src_as", "want"), [(0, 65001), (64999, 64999)])
def test_gateway_own_as_when_the_source_as_is_zero(src_as: int, want: int) -> None:
    (row,) = _rows(_sample(V4_TCP, f.gateway(65001, src_as, [64510, 64511])))
    assert (row["SrcAS"], row["DstAS"], row["DstASPath"]) == (want, 64511, [64510, 64511])


# --- MPLS ------------------------------------------------------------------------------------


def test_mpls_explicit_null_label_is_kept() -> None:
    inner = f.ip4("10.1.0.1", "10.2.0.1", 6, f.tcp(11001, 23))
    frame = f.eth(0x8847, f.mpls([0], inner))
    oracle = f.tshark_fields([frame], ["mpls.label", "ip.src"])
    (row,) = _rows(_sample(frame))
    assert oracle[0]["mpls.label"] == ["0"]
    assert row["MPLSLabels"] == [0]
    assert (row["SrcAddr"], row["DstPort"], row["Bytes"]) == ("10.1.0.1", 23, len(inner))


def test_ethernet_over_mpls_with_a_control_word() -> None:
    inner = f.eth(0x0800, f.ip4("192.168.1.1", "192.168.1.2", 6, f.tcp(1234, 80)), vlans=(42,))
    frame = f.eth(0x8847, f.mpls([16, 29], b"\0\0\0\0" + inner))
    (row,) = _rows(_sample(frame))
    assert row["MPLSLabels"] == [16, 29]
    assert (row["SrcAddr"], row["DstAddr"], row["Proto"]) == ("192.168.1.1", "192.168.1.2", 6)
    assert (row["SrcPort"], row["DstPort"], row["SrcVlan"]) == (1234, 80, 42)
    assert row["Bytes"] == len(inner) - 18


def test_mpls_with_an_unknown_payload_keeps_the_labels_only() -> None:
    frame = f.eth(0x8847, f.mpls([16], b"\x90" + b"\0" * 40))
    (row,) = _rows(_sample(frame))
    assert row["MPLSLabels"] == [16] and row["EType"] == 0 and row["SrcAddr"] == "::"


# --- decapsulation ---------------------------------------------------------------------------

INNER4 = f.ip4("172.16.0.1", "172.16.0.2", 6, f.tcp(33000, 8443), ident=77)
INNER6 = f.ip6("2001:db8:1::1", "2001:db8:2::2", 17, f.udp(5000, 5001))
INNER_ETH = f.eth(0x0800, INNER4, vlans=(55,))
OUTER4, OUTER6 = ("198.51.100.10", "198.51.100.20"), ("2001:db8:f::1", "2001:db8:f::2")
TUNNELS = {
    "vxlan": [f.eth(0x0800, f.ip4(*OUTER4, 17, f.vxlan(1234, INNER_ETH)))],
    "gre": [
        f.eth(0x0800, f.ip4(*OUTER4, 47, f.gre(0x0800, INNER4))),
        f.eth(0x0800, f.ip4(*OUTER4, 47, f.gre(0x0800, INNER4, key=99))),
        f.eth(0x86DD, f.ip6(*OUTER6, 47, f.gre(0x86DD, INNER6))),
        f.eth(0x0800, f.ip4(*OUTER4, 47, f.gre(0x6558, INNER_ETH))),
    ],
    "ipip": [
        f.eth(0x0800, f.ip4(*OUTER4, 4, INNER4)),
        f.eth(0x0800, f.ip4(*OUTER4, 41, INNER6)),
        f.eth(0x86DD, f.ip6(*OUTER6, 4, INNER4)),
    ],
    "srv6": [
        f.eth(0x86DD, f.ip6(*OUTER6, 43, f.srh(["2001:db8:e::1", "2001:db8:e::2"], 41, INNER6))),
        f.eth(0x86DD, f.ip6(*OUTER6, 41, INNER6)),  # reduced encapsulation: no SRH
        f.eth(0x86DD, f.ip6(*OUTER6, 43, f.srh(["2001:db8:e::1"], 4, INNER4))),
    ],
}
_ORACLE = ["ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.dstport", "udp.dstport", "vlan.id"]


def _innermost(oracle: dict[str, list[str]], v6: bool) -> tuple[str, str, int]:
    """tshark's innermost source, destination and L4 destination port of a frame."""
    src = oracle["ipv6.src" if v6 else "ip.src"][-1]
    dst = oracle["ipv6.dst" if v6 else "ip.dst"][-1]
    port = (oracle["udp.dstport"] if v6 else oracle["tcp.dstport"])[-1]
    return src, dst, int(port)


@pytest.mark.parametrize("proto", sorted(TUNNELS))
def test_decapsulation_reports_the_inner_packet(proto: str) -> None:
    frames = TUNNELS[proto]
    oracle = f.tshark_fields(frames, _ORACLE)
    for frame, seen in zip(frames, oracle, strict=True):
        stats = Stats(METRICS)
        (row,) = _rows(_sample(frame), proto, stats)
        inner6 = row["EType"] == 0x86DD
        inner = INNER6 if inner6 else INNER4
        assert (row["SrcAddr"], row["DstAddr"], row["DstPort"]) == _innermost(seen, inner6)
        assert row["Proto"] == (17 if inner6 else 6)
        assert row["Bytes"] == len(inner)  # the inner packet's length
        if INNER_ETH in frame:
            assert row["SrcVlan"] == 55 == int(seen["vlan.id"][-1])
        assert not [k for k in stats.values if k[0] == ERR]


@pytest.mark.parametrize("proto", sorted(TUNNELS))
def test_decapsulation_drops_and_counts_plain_packets(proto: str) -> None:
    stats = Stats(METRICS)
    other = {"vxlan": "gre", "gre": "vxlan", "ipip": "vxlan", "srv6": "gre"}[proto]
    datagram = f.sflow(
        f.flow_sample([f.raw_header(V4_TCP)]),  # plain
        f.flow_sample([f.raw_header(TUNNELS[other][0])]),  # another tunnel
        f.flow_sample([f.raw_header(TUNNELS[proto][0])]),
    )
    rows = _rows(datagram, proto, stats)
    assert len(rows) == 1
    assert stats.get(ERR, (AGENT, "not_encapsulated")) == 2
    assert stats.get("flowweir_outlet_decoder_flows", (AGENT, "sflow5")) == 1
    assert len(_rows(datagram)) == 3  # without decapsulation, all three are flows


def test_decapsulation_is_per_datagram() -> None:
    decoder = Decoder()
    plain = make_envelope(_sample(V4_TCP), AGENT)
    tunnel = make_envelope(_sample(TUNNELS["gre"][0]), AGENT)
    decoder.feed(plain)
    decoder.feed(tunnel, "gre")
    decoder.feed(plain, "gre")  # dropped
    rows = decoder.flush().to_rows()
    assert [r["SrcAddr"] for r in rows] == ["198.51.100.1", "172.16.0.1"]


# --- NetFlow and IPFIX -----------------------------------------------------------------------


def _v5(sampling: int) -> bytes:
    head = struct.pack("!HHIIIIBBH", 5, 1, 1000, 1_700_000_000, 0, 1, 0, 0, sampling)
    rec = struct.pack("!4s4s4sHHIIIIHHBBBBHHBBH", bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]),
                      bytes(4), 1, 2, 3, 300, 0, 1000, 1000, 80, 0, 0, 6, 0, 0, 0, 0, 0, 0)  # fmt: skip
    return head + rec


def test_netflow_v5_interval_zero_means_unsampled() -> None:
    assert _rows(_v5(0))[0]["SamplingRate"] == 1
    assert _rows(_v5(100))[0]["SamplingRate"] == 100
    assert _rows(_v5((1 << 14) | 100))[0]["SamplingRate"] == 100  # mode bits ignored


def test_juniper_forwarding_exception_says_dropped() -> None:
    fields = [(8, 4), (12, 4), (1, 4), (2, 4), (137, 2, 2636), (137, 4, 2636)]
    tmpl = f.ipfix_template(400, fields)

    def rec(cpid2: int, cpid4: int) -> bytes:
        return bytes([10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack("!IIHI", 100, 1, cpid2, cpid4)

    forwarded = rec((0x01 << 10) | 3, (0x06 << 26) | 7)  # forwarding class, ingress interface
    dropped = rec((0x01 << 10) | 3, (0x02 << 26) | (0x05 << 16))  # a forwarding exception
    rows = _rows(f.ipfix(tmpl + f.ipfix_set(400, forwarded + dropped)))
    assert [r["ForwardingStatus"] for r in rows] == [64, 128]  # no exception: forwarded


NSEL = [(8, 4), (12, 4), (4, 1), (7, 2), (11, 2), (231, 8), (232, 8), (233, 1)]


def _nsel(event: int, fwd: int, rev: int) -> bytes:
    return bytes([10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack(
        "!BHHQQB", 6, 50000, 443, fwd, rev, event
    )


def test_nsel_bytes_and_events() -> None:
    records = _nsel(1, 0, 0) + _nsel(5, 1000, 4000) + _nsel(2, 200, 800) + _nsel(3, 60, 0)
    rows = _rows(f.ipfix(f.ipfix_template(410, NSEL) + f.ipfix_set(410, records)))
    flows = [(r["SrcAddr"], r["SrcPort"], r["Bytes"], r["ForwardingStatus"]) for r in rows]
    assert sorted(flows) == sorted([
        ("10.0.0.1", 50000, 1000, 64),  # update: initiator bytes, forwarded
        ("10.0.0.2", 443, 4000, 64),  # and the responder's as the reverse flow
        ("10.0.0.1", 50000, 200, 64),  # teardown
        ("10.0.0.2", 443, 800, 64),
        ("10.0.0.1", 50000, 60, 129),  # denied: dropped by an ACL
    ])  # fmt: skip  # the "created" event (no traffic yet) is not a flow


def _datalink(frame: bytes, extra: bytes = b"") -> bytes:
    tmpl = f.ipfix_template(420, [(10, 4), (243, 2), (315, 0xFFFF)])
    return f.ipfix(tmpl + f.ipfix_set(420, struct.pack("!IH", 7, 0) + f.varlen(frame) + extra))


def test_ipfix_datalink_section_gives_ip_length_and_vlan() -> None:
    frame = f.eth(0x0800, f.ip4("10.9.0.1", "10.9.0.2", 17, f.udp(1000, 2000)), vlans=(231,))
    (row,) = _rows(_datalink(frame))
    assert (row["Bytes"], row["Packets"], row["SrcVlan"], row["InIf"]) == (
        len(frame) - 18, 1, 231, 7,
    )  # fmt: skip
    assert (row["SrcAddr"], row["DstPort"]) == ("10.9.0.1", 2000)


def test_ipfix_datalink_decapsulation_and_plain_records_dropped() -> None:
    stats = Stats(METRICS)
    tunnel = TUNNELS["vxlan"][0]
    rows = _rows(_datalink(tunnel), "vxlan", stats)
    assert [(r["SrcAddr"], r["DstPort"], r["SrcVlan"]) for r in rows] == [("172.16.0.1", 8443, 55)]
    _rows(_datalink(V4_TCP), "vxlan", stats)
    assert stats.get(ERR, ("192.0.2.50", "not_encapsulated")) == 1
    # NetFlow records without a sampled frame cannot be decapsulated: dropped, counted
    assert _rows(_v5(0), "gre", stats) == []
    assert stats.get(ERR, ("192.0.2.50", "not_encapsulated")) == 2
