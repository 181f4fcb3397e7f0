"""Each simulated router answers SNMP at its own address with its names (net-snmp's tools as the
client, numeric OIDs: Debian ships no MIBs)."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from collector.devservices.base import wait_for
from enrich.config import SNMPConfig
from enrich.providers.snmp import SNMPProvider
from tests.demoexporter.conftest import COMMUNITY, INTERFACES, ROUTERS, RunningExporter

pytestmark = pytest.mark.skipif(shutil.which("snmpget") is None, reason="net-snmp tools missing")

SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HIGH_SPEED = "1.3.6.1.2.1.31.1.1.1.15"
IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.18"


def snmp(tool: str, address: str, port: int, *oids: str, community: str = COMMUNITY, v: str = "2c"):
    return subprocess.run(
        [tool, f"-v{v}", "-c", community, "-m", "", "-On", "-Oqv", "-t", "1", "-r", "0",
         f"{address}:{port}", *oids],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize("router", ROUTERS, ids=[r["name"] for r in ROUTERS])
def test_snmpget_answers_the_routers_names(demo_exporter: RunningExporter, router: dict) -> None:
    iface = INTERFACES[1]
    x = iface["index"]
    out = snmp(
        "snmpget", router["address"], demo_exporter.snmp_port,
        SYS_NAME, f"{IF_NAME}.{x}", f"{IF_ALIAS}.{x}", f"{IF_DESCR}.{x}", f"{IF_HIGH_SPEED}.{x}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f'"{router["name"]}"',
        f'"{iface["name"]}"',
        f'"{iface["description"]}"',
        f'"{iface["name"]}"',
        str(iface["speed"]),
    ]


def test_snmpwalk_and_v1_get(demo_exporter: RunningExporter) -> None:
    router = ROUTERS[0]
    walk = snmp("snmpbulkwalk", router["address"], demo_exporter.snmp_port, IF_NAME)
    assert walk.returncode == 0, walk.stderr
    assert walk.stdout.splitlines() == [f'"{i["name"]}"' for i in INTERFACES]
    walk = snmp("snmpwalk", router["address"], demo_exporter.snmp_port, IF_HIGH_SPEED)
    assert walk.stdout.splitlines() == [str(i["speed"]) for i in INTERFACES], walk.stderr
    v1 = snmp("snmpget", router["address"], demo_exporter.snmp_port, SYS_NAME, v="1")
    assert v1.stdout.strip() == f'"{router["name"]}"', v1.stderr
    missing = snmp("snmpget", router["address"], demo_exporter.snmp_port, f"{IF_NAME}.999")
    assert "No Such Instance" in missing.stdout


def test_wrong_community_gets_no_answer_and_is_counted(demo_exporter: RunningExporter) -> None:
    router = ROUTERS[1]
    out = snmp("snmpget", router["address"], demo_exporter.snmp_port, SYS_NAME, community="public")
    assert out.returncode != 0 and "Timeout" in out.stderr
    errors = demo_exporter.daemon.metric_sum(
        "flowweir_demoexporter_snmp_errors_total", router=router["name"], kind="bad_community"
    )
    assert errors >= 1


def test_flowweirs_snmp_provider_reads_the_names(demo_exporter: RunningExporter) -> None:
    """What the enrichment workers of `make demo` do: poll the router for its interfaces."""
    router = ROUTERS[2]
    provider = SNMPProvider(
        SNMPConfig(
            communities={"127.0.0.0/8": [COMMUNITY]}, ports={"127.0.0.0/8": demo_exporter.snmp_port}
        )
    )
    answer = provider.query(router["address"], {i["index"] for i in INTERFACES})
    provider.close()
    assert answer is not None
    assert answer.exporter is not None and answer.exporter.name == router["name"]
    got = {x: (i.name, i.description, i.speed) for x, i in answer.interfaces.items() if i}
    assert got == {i["index"]: (i["name"], i["description"], i["speed"]) for i in INTERFACES}


def test_garbage_is_counted_and_the_agent_keeps_answering(demo_exporter: RunningExporter) -> None:
    router = ROUTERS[0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for junk in (b"", b"\x30\x03\x02\x01", b"\xff" * 300, b"\x30\x0a\x02\x01\x03" + b"\0" * 7):
            s.sendto(junk, (router["address"], demo_exporter.snmp_port))
    wait_for(
        lambda: (
            demo_exporter.daemon.metric_sum(
                "flowweir_demoexporter_snmp_errors_total", router=router["name"], kind="malformed"
            )
            >= 3
        ),
        10,
        "malformed requests counted",
    )
    out = snmp("snmpget", router["address"], demo_exporter.snmp_port, SYS_NAME)
    assert out.stdout.strip() == f'"{router["name"]}"', out.stderr
