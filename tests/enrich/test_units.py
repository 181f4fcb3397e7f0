"""Pure parts: configuration messages, gNMI path parsing, static records, breaker (subnet maps:
tests/config)."""

from __future__ import annotations

import pytest
import redis

from collector.config.root import ConfigError, parse_config
from enrich.breaker import Breaker
from enrich.providers import ProviderError
from enrich.providers.gnmi import MODELS, extract, leaves_from_notifications, parse_speed
from enrich.providers.static import parse_source_records


def test_config_durations_and_user_errors():
    c = parse_config(
        {"enrich": {"cache-refresh": "5m"}, "outlet": {"enrichment": {"query-timeout": "250ms"}}}
    )
    assert (c.enrich.cache_refresh, c.outlet.enrichment.query_timeout) == (300.0, 0.25)
    assert c.outlet.enrichment.initial_delay == 60.0
    with pytest.raises(ConfigError) as exc:
        parse_config({"enrich": {"cache-duration": "soon", "snmp": {"ports": {"not-a-net": 161}}}})
    assert "enrich.cache-duration: not a duration" in str(exc.value)
    assert "'not-a-net' is not a subnet or an address" in str(exc.value)
    with pytest.raises(ConfigError, match="cache-refresh must be shorter than cache-duration"):
        parse_config({"enrich": {"cache-refresh": "2h", "cache-duration": "1h"}})
    with pytest.raises(ConfigError, match="privacy-passphrase needs at least 8 characters"):
        parse_config(
            {
                "enrich": {
                    "snmp": {
                        "security-parameters": {
                            "10.0.0.0/8": {
                                "user-name": "u",
                                "authentication-protocol": "sha",
                                "authentication-passphrase": "12345678",
                                "privacy-protocol": "aes",
                                "privacy-passphrase": "short",
                            }
                        }
                    }
                }
            }
        )
    with pytest.raises(ConfigError, match="transform is not a valid jq program"):
        parse_config(
            {"enrich": {"static": {"sources": {"x": {"url": "http://h/", "transform": ".[[["}}}}}
        )


def test_gnmi_notifications_to_interfaces():
    notifications = [
        {
            "prefix": "openconfig-interfaces:interfaces",
            "update": [
                {"path": "interface[name=et1]/state/ifindex", "val": 11},
                {"path": "interface[name=et1]/state/description", "val": "to core"},
                {
                    "path": "interface[name=et1]/ethernet/state/port-speed",
                    "val": "openconfig-if-ethernet:SPEED_400GB",
                },
                {"path": "interface[name=et2]", "val": {"state": {"ifindex": 12}}},
            ],
        },
        {"prefix": None, "update": [{"path": "system/state/hostname", "val": "r1"}]},
    ]
    state = extract(MODELS["openconfig"], leaves_from_notifications(notifications))
    assert state["system-name"] == "r1"
    assert state["interfaces"]["11"] == {"name": "et1", "description": "to core", "speed": 400_000}
    assert state["interfaces"]["12"]["name"] == "et2"
    assert [parse_speed(v) for v in ("100G", "SPEED_10MB", 25000, "weird")] == [
        100_000,
        10,
        25000,
        0,
    ]


def test_static_source_records_errors_name_the_record():
    recs = parse_source_records(
        [{"exporter": "192.0.2.0/24", "name": "r", "interfaces": [{"ifindex": 1, "name": "a"}]}]
    )
    assert recs["192.0.2.0/24"].interfaces[1].name == "a"
    with pytest.raises(ProviderError, match="record 0: an object with an `exporter` key"):
        parse_source_records([{"name": "r"}])
    with pytest.raises(ProviderError, match="record 0: interface without ifindex"):
        parse_source_records([{"exporter": "192.0.2.1", "interfaces": [{"name": "a"}]}])


def test_breaker_opens_then_lets_one_probe_through(redis_url):
    b = Breaker(redis.Redis.from_url(redis_url), failures=2, cool_down=10)
    assert b.allow("192.0.2.1", now=0)
    assert not b.failure("192.0.2.1", now=0)
    assert b.failure("192.0.2.1", now=1)  # second failure opens it
    assert not b.allow("192.0.2.1", now=5)
    # After the cool-down exactly one caller probes; shared by every worker through Redis.
    other = Breaker(redis.Redis.from_url(redis_url), failures=2, cool_down=10)
    assert b.allow("192.0.2.1", now=12)
    assert not other.allow("192.0.2.1", now=12)
    assert b.failure("192.0.2.1", now=12)  # the probe failed: re-opened
    assert not b.allow("192.0.2.1", now=15)
    assert b.allow("192.0.2.1", now=23)
    b.success("192.0.2.1")
    assert other.allow("192.0.2.1", now=23) and not b.is_open("192.0.2.1")
