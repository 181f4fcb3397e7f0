"""The inlet's `exporters` allow-list: datagrams from other sources never reach Kafka, and
they are counted."""

from __future__ import annotations

import socket

import pytest

from collector.devservices.kafka import read_all
from collector.inlet.allowlist import AllowList
from collector.kafka.envelope import address_to_bytes, decode_envelope


def _send(source: str, port: int, payloads: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))  # 127.0.0.0/8 is all local: any address in it can send
        for p in payloads:
            sock.sendto(p, ("127.0.0.1", port))


@pytest.mark.parametrize("client", ["confluent-kafka", "kafka-python-ng"])
def test_sources_outside_the_allow_list_are_dropped_and_counted(
    inlet_factory, kafka_broker, client
):
    inlet = inlet_factory(workers=2, client=client, exporters=["127.0.0.2/32", "2001:db8::/32"])
    _send("127.0.0.3", inlet.port, [b"refused %d" % i for i in range(20)])
    _send("127.0.0.2", inlet.port, [b"accepted %d" % i for i in range(30)])
    messages = read_all(kafka_broker.bootstrap, inlet.topic, expected=30, idle=2)
    envelopes = [decode_envelope(m.value()) for m in messages]
    assert sorted(e.payload for e in envelopes) == sorted(b"accepted %d" % i for i in range(30))
    assert {e.exporter for e in envelopes} == {"127.0.0.2"}
    drops = "flowweir_inlet_udp_drops_total"
    assert inlet.wait_metric(drops, 20, reason="not_allowed") == 20
    assert inlet.wait_metric("flowweir_inlet_udp_datagrams_total", 50) == 50
    # The refused source is not counted per exporter (spoofed sources cannot grow the metrics).
    per_exporter = "flowweir_inlet_udp_exporter_datagrams_total"
    assert inlet.metric_sum(per_exporter, exporter="127.0.0.3") == 0
    assert "datagrams from 127.0.0.3 dropped: not in inlet.exporters" in inlet.log()


def test_allow_list_matches_ipv4_in_the_mapped_form_and_ipv6():
    allow = AllowList(["192.0.2.0/24", "2001:db8::/32"])
    assert not allow.everything
    assert allow.allowed(address_to_bytes("192.0.2.200"))
    assert not allow.allowed(address_to_bytes("192.0.3.1"))
    assert allow.allowed(address_to_bytes("2001:db8::1"))
    assert not allow.allowed(address_to_bytes("2001:db9::1"))
    assert not allow.allowed(address_to_bytes("::ffff:0:0"))  # not a mapped 192.0.2.x
    assert AllowList(["0.0.0.0/0", "::/0"]).everything
    assert not AllowList(["0.0.0.0/0"]).everything  # IPv6 sources still screened


def test_bad_subnet_in_the_allow_list_is_refused_with_its_path():
    from collector.config.root import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"inlet.exporters: .*'10.0.0.0/33' is not a subnet"):
        parse_config({"inlet": {"exporters": ["10.0.0.0/33"]}})
