"""SNMP provider against real agents: Debian's snmpd (v2c, v3 authPriv) and an snmpsim router."""

from __future__ import annotations

import subprocess
import sys

from collector.devservices.snmp import SNMP_USER
from tests.enrich.conftest import ROOT


def test_snmpd_v2c_and_v3_fill_the_cache(deploy, snmpd):
    user, auth, priv = SNMP_USER
    d = deploy(
        {
            "providers": ["snmp"],
            "snmp": {
                "timeout": 0.3,
                "retries": 0,
                # The first community is refused (snmpd stays silent), the second one works.
                "communities": {"192.0.2.0/24": ["wrong", "public"]},
                "security-parameters": {
                    "192.0.2.2/32": {
                        "user-name": user,
                        "authentication-protocol": "sha",
                        "authentication-passphrase": auth,
                        "privacy-protocol": "aes",
                        "privacy-passphrase": priv,
                    }
                },
                "ports": {"192.0.2.0/24": snmpd.port},
                "agents": {"192.0.2.1": "127.0.0.1", "192.0.2.2": "127.0.0.1"},
            },
        },
        client={"initial-delay": 0, "query-timeout": "10s"},
    )
    d.worker()
    client, stats = d.client()
    for exporter in ("192.0.2.1", "192.0.2.2"):  # v2c, then v3 authPriv
        md = client.lookup(exporter, 1)
        assert md is not None and md.found, exporter
        assert md.exporter.name == "snmpd-router"
        assert md.interface.name == "lo"
        assert md.interface.description == "loopback of the router"
        assert md.interface.speed == 10
    # An ifIndex the agent does not have: a cached negative answer, kept with empty names.
    md = client.lookup("192.0.2.1", 4242)
    assert md is not None and not md.found and md.interface.name == ""
    assert md.exporter.name == "snmpd-router"
    assert stats.get("flowweir_enrich_client_missing", ("192.0.2.1", "kept")) == 1
    # Read again: served from the in-process cache, no new request.
    assert client.lookup("192.0.2.2", 1).interface.name == "lo"
    client.flush_stats()
    assert stats.get("flowweir_enrich_client_hits", ("local",)) == 1
    # With `missing: reject` the outlet is told to drop the flow (None), and it is counted.
    rejecting, rstats = d.client(missing="reject")
    assert rejecting.lookup("192.0.2.1", 4242) is None
    assert rstats.get("flowweir_enrich_client_missing", ("192.0.2.1", "rejected")) == 1

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "collector.cli",
            "enrich",
            "show",
            "192.0.2.2",
            "--config",
            str(d.path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "snmpd-router" in out.stdout and "loopback of the router" in out.stdout


def test_snmpsim_router_with_50_interfaces_in_one_get(deploy, snmpsim, udp_counter):
    wire = udp_counter(forward=snmpsim.port)  # counts the GETs that reach the agent
    d = deploy(
        {
            "providers": ["snmp"],
            "snmp": {
                "timeout": 2,
                "retries": 0,
                "communities": {"198.51.100.7": [snmpsim.community]},
                "ports": {"198.51.100.7": wire.port},
                "agents": {"198.51.100.7": "127.0.0.1"},
            },
        },
        client={"initial-delay": 0, "query-timeout": "10s"},
    )
    d.worker()
    client, stats = d.client()
    client.prefetch("198.51.100.7", range(1, 51))
    for ifindex, (name, alias, speed) in snmpsim.interfaces.items():
        md = client.lookup("198.51.100.7", ifindex)
        assert md is not None and md.found
        assert (md.interface.name, md.interface.description, md.interface.speed) == (
            name,
            alias,
            speed,
        )
        assert md.exporter.name == "sim-router-par1"
    assert wire.count == 1  # sysName and the 4 columns of 50 interfaces: a single GET
    assert stats.get("flowweir_enrich_client_requests") == 1
