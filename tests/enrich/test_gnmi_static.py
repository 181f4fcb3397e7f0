"""gNMI provider against a gRPC gNMI target, static provider with remote HTTP sources."""

from __future__ import annotations

import json

from tests.enrich.conftest import GNMI_INTERFACES, worker_metric

IMMEDIATE = {"initial-delay": 0, "query-timeout": "10s"}  # outlet.enrichment: no grace period


def gnmi_config(port: int, mode: str) -> dict:
    return {
        "providers": ["gnmi"],
        "gnmi": {
            "timeout": 1,
            "mode": mode,
            "insecure": True,
            "username": "admin",
            "password": "secret",
            "targets": {"203.0.113.0/24": "127.0.0.1"},
            "ports": {"203.0.113.0/24": port},
        },
    }


def test_gnmi_get_and_subscribe_once_and_cached_state_while_unreachable(deploy, gnmi_target):
    speeds = {1: 100_000, 2: 10_000, 3: 1_000}
    d = deploy(gnmi_config(gnmi_target.port, "subscribe-once"), client=IMMEDIATE)
    d.worker()
    client, _ = d.client()
    for exporter in ("203.0.113.1",):
        for ifindex, (name, descr, _) in GNMI_INTERFACES.items():
            if ifindex == 3:
                continue  # asked for only once the target is gone, below
            md = client.lookup(exporter, ifindex)
            assert md is not None and md.found
            assert (md.interface.name, md.interface.description) == (name, descr)
            assert md.interface.speed == speeds[ifindex]
            assert md.exporter.name == "gnmi-router"
    # The target goes away: an ifIndex never asked for before is still answered, from the state
    # fetched while it was reachable.
    gnmi_target.stop()
    md = client.lookup("203.0.113.1", 3)
    assert md is not None and md.found and md.interface.name == "Management0"
    assert md.interface.speed == 1_000


def test_gnmi_get_mode(deploy, gnmi_target):
    d = deploy(gnmi_config(gnmi_target.port, "get"), client=IMMEDIATE)
    d.worker()
    client, _ = d.client()
    md = client.lookup("203.0.113.9", 2)
    assert md is not None and md.found
    assert (md.interface.name, md.interface.description, md.interface.speed) == (
        "Ethernet2",
        "peering IX",
        10_000,
    )


def test_static_provider_waits_for_remote_sources(deploy, http_source):
    # The JSON source fails at first: the provider is not ready and nothing is answered "missing".
    http_source.routes["/exporters.json"] = (503, "text/plain", b"try later")
    http_source.routes["/interfaces.csv"] = (
        200,
        "text/csv",
        b"router,ifindex,name,description,speed\n"
        b"192.0.2.50,7,xe-0/0/7,transit Level3,10000\n"
        b"192.0.2.50,8,xe-0/0/8,peering,1000\n",
    )
    netbox = {
        "results": [
            {
                "ip": "198.51.100.0/28",
                "hostname": "edge1.par1",
                "site": "par1",
                "role": "edge",
                "ports": [{"index": 3, "label": "et-0/0/3", "comment": "to core", "mbps": 100000}],
            }
        ]
    }
    d = deploy(
        {
            "providers": ["static"],
            "static": {
                "exporters": {
                    "10.0.0.1": {
                        "name": "from-config",
                        "tenant": "acme",
                        "default": {"name": "unknown-port"},
                        "interfaces": {2: {"name": "ge-0/0/2", "speed": 1000}},
                    }
                },
                "sources": {
                    "netbox": {
                        "url": http_source.url("/exporters.json"),
                        "transform": (
                            ".results[] | {exporter: .ip, name: .hostname, site, role,"
                            " interfaces: [.ports[] | {ifindex: .index, name: .label,"
                            " description: .comment, speed: .mbps}]}"
                        ),
                        "interval": "1s",
                        "timeout": "1s",
                    },
                    "sheet": {
                        "url": http_source.url("/interfaces.csv"),
                        "format": "csv",
                        "transform": (
                            'group_by(.router)[] | {exporter: .[0].router, name: "csv-router",'
                            " interfaces: [.[] | {ifindex: (.ifindex|tonumber), name,"
                            " description, speed: (.speed|tonumber)}]}"
                        ),
                        "interval": "1s",
                    },
                },
            },
        },
        client={"initial-delay": "20s", "query-timeout": "100ms"},
    )
    d.worker()
    client, stats = d.client()
    import threading

    # Let the source recover a little later, while the lookup waits (grace period).
    threading.Timer(
        1.5,
        lambda: http_source.routes.__setitem__(
            "/exporters.json", (200, "application/json", json.dumps(netbox).encode())
        ),
    ).start()
    md = client.lookup("198.51.100.5", 3)
    assert md is not None and md.found
    assert (md.exporter.name, md.exporter.site, md.exporter.role) == ("edge1.par1", "par1", "edge")
    assert (md.interface.name, md.interface.description, md.interface.speed) == (
        "et-0/0/3",
        "to core",
        100_000,
    )
    md = client.lookup("192.0.2.50", 7)
    assert (md.exporter.name, md.interface.name, md.interface.speed) == (
        "csv-router",
        "xe-0/0/7",
        10_000,
    )
    md = client.lookup("10.0.0.1", 2)
    assert (md.exporter.name, md.exporter.tenant, md.interface.name) == (
        "from-config",
        "acme",
        "ge-0/0/2",
    )
    assert client.lookup("10.0.0.1", 99).interface.name == "unknown-port"  # the default
    assert stats.get("flowweir_enrich_client_timeouts") == 0
    # The first polls found the provider not ready and were retried, not answered "missing".
    assert worker_metric(d, "flowweir_enrich_worker_refreshes", ("not-ready",)) >= 1
    assert worker_metric(d, "flowweir_enrich_provider_errors", ("static", "http")) >= 1


def self_signed(tmp_path):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gnmi-target")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "ca.pem").write_bytes(cert_pem)
    return key_pem, cert_pem, str(tmp_path / "ca.pem")


def test_gnmi_over_tls(tmp_path):
    from collector.devservices.gnmi import GNMITarget, openconfig_tree
    from enrich.config import GNMIConfig
    from enrich.providers.gnmi import GNMIProvider

    key_pem, cert_pem, ca = self_signed(tmp_path)
    target = GNMITarget(openconfig_tree("tls-router", GNMI_INTERFACES), tls=(key_pem, cert_pem))
    target.start()
    try:
        provider = GNMIProvider(
            GNMIConfig.model_validate(
                {"timeout": 2, "tls": {"ca-file": ca}, "ports": {"127.0.0.1": target.port}}
            )
        )
        answer = provider.query("127.0.0.1", {1})
        assert answer is not None and answer.exporter is not None
        assert answer.exporter.name == "tls-router"
        assert answer.interfaces[1] is not None and answer.interfaces[1].name == "Ethernet1"
    finally:
        target.stop()
