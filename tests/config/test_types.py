"""The shared configuration types: durations, addresses, subnets, secrets, attribute lists."""

from __future__ import annotations

import dataclasses
import ipaddress
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.config.root import ConfigError, dump_config, parse_config
from collector.config.shared import RedisConfig
from collector.config.types import (
    EXPORTER_ATTRIBUTES,
    INTERFACE_ATTRIBUTES,
    ExporterRecord,
    InterfaceRecord,
    SubnetMap,
    format_duration,
    normalize_address,
    parse_duration,
    parse_hostport,
)
from enrich.cache import Exporter, Interface


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("2s", 2),
        ("5m", 300),
        ("1h", 3600),
        ("7d", 7 * 86400),
        ("1w", 7 * 86400),
        ("1h30m", 5400),
        ("1.5s", 1.5),
        ("90", 90),
        (90, 90),
        (0.25, 0.25),
    ],
)
def test_every_duration_spelling_is_read(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "15 days", "1M", "-", "inf", "nan", True, None, "5m1"])
def test_what_is_not_a_duration_is_refused(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**7), st.integers(min_value=0, max_value=999))
def test_a_dumped_duration_reads_back(seconds, ms):
    value = seconds + ms / 1000
    assert parse_duration(format_duration(value)) == pytest.approx(value, abs=1e-9)


def test_every_section_takes_the_same_duration_syntax():
    c = parse_config(
        {
            "inlet": {"batch-wait": "1ms", "queue-full-wait": "2s", "shutdown-timeout": "1m"},
            "orchestrator": {"retention": "1w"},
            "outlet": {"maximum-wait-time": "500ms", "decoder": {"pending-max-age": "2m"}},
            "clickhouse": {"timeout": "3s"},
            "enrich": {"cache-duration": "1d"},
        }
    )
    assert (c.inlet.batch_wait, c.inlet.queue_full_wait, c.inlet.shutdown_timeout) == (
        0.001,
        2,
        60,
    )
    assert c.orchestrator.retention == 7 * 86400
    assert (c.outlet.maximum_wait_time, c.outlet.decoder.pending_max_age) == (0.5, 120)
    assert (c.clickhouse.timeout, c.enrich.cache_duration) == (3, 86400)
    # Durations are dumped in the same syntax.
    assert "batch-wait: 1ms" in dump_config(c) and "retention: 7d" in dump_config(c)


def test_whole_second_keys_refuse_fractions():
    with pytest.raises(ConfigError, match=r"orchestrator.retention: must be whole seconds"):
        parse_config({"orchestrator": {"retention": "1500ms"}})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("h:9092", ("h", 9092)),
        ("kafka1.example.net", ("kafka1.example.net", 7)),
        ("[2001:db8::1]:9000", ("2001:db8::1", 9000)),
        ("2001:db8::1", ("2001:db8::1", 7)),
        (":2055", ("", 2055)),
    ],
)
def test_host_port(text, expected):
    assert parse_hostport(text, 7) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("h:x", "port 'x' is not a number"),
        ("h:", "port missing"),
        ("h:70000", "out of range"),
        ("[2001:db8::1", "write [IPv6]:port"),
        ("1.2.3:80", "neither an IP address nor a host name"),
        ("a b:80", "neither an IP address nor a host name"),
    ],
)
def test_malformed_host_port(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_hostport(text, 7)


def test_subnet_map_longest_prefix_and_mapped_addresses():
    m = SubnetMap({"0.0.0.0/0": "any", "192.0.2.0/24": "net", "192.0.2.1": "host", "::/0": "v6"})
    assert m.lookup("192.0.2.1") == "host"
    assert m.lookup("::ffff:192.0.2.7") == "net"
    assert m.lookup("10.1.1.1") == "any"
    assert m.lookup("2001:db8::1") == "v6"
    assert m.lookup("not an address") is None
    assert len(m) == 4 and not SubnetMap({})
    assert SubnetMap({"::ffff:198.51.100.0/120": 1}).lookup("198.51.100.9") == 1
    assert normalize_address("::ffff:192.0.2.7") == "192.0.2.7"  # the cache's key form


def test_subnet_map_refuses_a_subnet_given_twice():
    with pytest.raises(ValueError, match="'192.0.2.5/24' and '192.0.2.0/24' are the same subnet"):
        SubnetMap({"192.0.2.0/24": 1, "192.0.2.5/24": 2})


networks = st.builds(
    lambda n, plen: ipaddress.ip_network((n, plen), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)


@given(st.lists(networks, max_size=40, unique=True), st.lists(st.integers(0, 2**32 - 1)))
def test_subnet_map_agrees_with_a_scan(nets, addresses):
    m = SubnetMap({str(n): str(n) for n in nets})
    for a in addresses:
        ip = ipaddress.IPv4Address(a)
        best = max((n for n in nets if ip in n), key=lambda n: n.prefixlen, default=None)
        assert m.lookup(str(ip)) == (str(best) if best else None)


def test_redis_url_password_never_shows():
    config = parse_config({"redis": {"url": "redis://flow:s3cret@redis1:6379/2"}})
    assert config.redis.url.get_secret_value() == "redis://flow:s3cret@redis1:6379/2"
    for shown in (str(config.redis.url), repr(config), dump_config(config)):
        assert "s3cret" not in shown
    assert "redis://flow:***@redis1:6379/2" in dump_config(config)
    assert RedisConfig().url.get_secret_value() == "redis://127.0.0.1:6379/0"


def test_clickhouse_password_and_kafka_secrets_never_show():
    config = parse_config(
        {
            "clickhouse": {"password": "s3cret"},
            "kafka": {"options": {"sasl.password": "s3cret", "sasl.username": "flow"}},
        }
    )
    assert config.clickhouse.password.get_secret_value() == "s3cret"
    assert config.kafka.options["sasl.password"] == "s3cret"  # passed on to the client
    dumped = dump_config(config)
    assert "s3cret" not in dumped and "s3cret" not in repr(config) + str(config)
    assert "sasl.username: flow" in dumped


def test_attribute_lists_are_the_records_fields():
    assert tuple(ExporterRecord.model_fields) == EXPORTER_ATTRIBUTES
    assert set(InterfaceRecord.model_fields) == set(INTERFACE_ATTRIBUTES)
    # The records of the metadata cache (enrich/cache.py) carry the same attributes.
    assert tuple(f.name for f in dataclasses.fields(Exporter)) == EXPORTER_ATTRIBUTES
    assert {f.name for f in dataclasses.fields(Interface)} == set(INTERFACE_ATTRIBUTES)
    # A classifier may set every exporter attribute and every text attribute of an interface.
    rules = parse_config(
        {
            "outlet": {
                "exporter-classifiers": [{"set": dict.fromkeys(EXPORTER_ATTRIBUTES, "x")}],
                "interface-classifiers": [
                    {"set": dict.fromkeys(set(INTERFACE_ATTRIBUTES) - {"speed", "boundary"}, "x")}
                ],
            }
        }
    )
    assert len(rules.outlet.exporter_classifiers[0].set) == len(EXPORTER_ATTRIBUTES)
