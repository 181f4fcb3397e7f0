"""Classifier rules: first match wins per attribute, regex groups fill values, stop and reject."""

from __future__ import annotations

import pytest

from collector.config.root import ConfigError, parse_config
from collector.outlet.core.classify import ExporterClassifier, InterfaceClassifier, is_private_asn

RULES = [
    {
        "match": {"description": r"^(?P<kind>Transit|Peering): (?P<provider>\S+)"},
        "set": {"connectivity": "$kind", "provider": "$provider", "boundary": "external"},
    },
    {
        "match": {"interface": "^xe", "speed": ">=10000"},
        "set": {"connectivity": "core"},
        "action": "stop",
    },
    {"match": {"description": "^UNUSED"}, "action": "reject"},
    {"match": {"vlan": [100]}, "set": {"connectivity": "customer", "provider": "vlan${1}"}},
]


def interfaces() -> InterfaceClassifier:
    return InterfaceClassifier(
        parse_config({"outlet": {"interface-classifiers": RULES}}).outlet.interface_classifiers
    )


def test_regex_groups_fill_the_values():
    c = interfaces().classify("192.0.2.1", "r1", "et-0/0/1", "Transit: Cogent 100G", 100000, 0)
    assert c.values == {"connectivity": "Transit", "provider": "Cogent", "boundary": "external"}
    assert not c.rejected


def test_stop_ends_before_a_later_reject():
    assert interfaces().classify("192.0.2.1", "r1", "xe-0/0/0", "UNUSED", 10000, 0).values == {
        "connectivity": "core"
    }
    slow = interfaces().classify(
        "192.0.2.1", "r1", "xe-0/0/0", "UNUSED", 1000, 0
    )  # speed condition fails
    assert slow.rejected


def test_first_rule_wins_per_attribute_and_vlan_matches():
    c = interfaces().classify("192.0.2.1", "r1", "ge-0", "Peering: FranceIX", 1000, 100)
    assert (
        c.values["connectivity"] == "Peering"
    )  # the first rule set it; the VLAN rule fills nothing
    assert c.values["provider"] == "FranceIX"
    assert (
        interfaces().classify("192.0.2.1", "r1", "ge-0", "", 1000, 100).values["connectivity"]
        == "customer"
    )


def test_exporter_rules_by_name_and_subnet():
    rules = parse_config(
        {
            "outlet": {
                "exporter-classifiers": [
                    {
                        "match": {"name": r"^(?P<site>[a-z]+\d)-edge"},
                        "set": {"site": "$site", "role": "edge"},
                    },
                    {"match": {"ip": ["198.51.100.0/24"]}, "action": "reject"},
                ]
            }
        }
    ).outlet.exporter_classifiers
    c = ExporterClassifier(rules)
    assert c.classify("192.0.2.1", "par1-edge3").values == {"site": "par1", "role": "edge"}
    assert c.classify("198.51.100.7", "lab").rejected


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"match": {"description": "("}}, "description"),
        ({"match": {"speed": "fast"}}, "speed condition"),
        ({"set": {"boundary": "outside"}}, "boundary"),
        ({"set": {"colour": "red"}}, "colour"),
    ],
)
def test_bad_rules_are_refused_with_the_key(bad, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"outlet": {"interface-classifiers": [bad]}})


def test_private_asns():
    assert is_private_asn(64512) and is_private_asn(4_200_000_000) and is_private_asn(0)
    assert not is_private_asn(13335)
