"""A configuration or an address the user must fix: one line naming it, exit 1, no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from collector.config.root import ConfigError
from collector.demoexporter.config import load_demo_config
from collector.demoexporter.traffic import Pacer, daily_factor


def run(tmp_path: Path, section: object, *flags: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump({"demo-exporter": section}))
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", "demo-exporter", "--config", str(path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )


def problems(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    return [line for line in result.stderr.splitlines() if line != "configuration error:"]


ROUTER = {
    "name": "r1",
    "address": "127.0.0.31",
    "interfaces": [
        {"index": 1, "name": "et-0/0/0", "description": "Transit: Cogent"},
        {"index": 2, "name": "xe-0/0/1", "description": "Customer: ACME"},
    ],
}
INTERNAL = ROUTER["interfaces"][1]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            {"routers": [{**ROUTER, "colour": "red"}]},
            "demo-exporter.routers[0].colour: unknown key",
        ),
        ({"routers": [{**ROUTER, "protocol": "netflow5"}]}, "demo-exporter.routers[0].protocol"),
        ({"routers": [{**ROUTER, "address": "edge1"}]}, "address: not an IP address (got 'edge1')"),
        (
            {"targets": {"sflow": "collector"}},
            "targets.sflow: needs a host and a port (host:port) (got 'collector')",
        ),
        (
            {"routers": [{**ROUTER, "interfaces": [INTERNAL, INTERNAL]}]},
            "two interfaces with the same index",
        ),
        (
            {"routers": [{**ROUTER, "interfaces": [INTERNAL, {"index": 3, "name": "x"}]}]},
            "router r1: needs external (Transit/Peering/IX, or kind: external) and internal",
        ),
        ({"routers": [ROUTER, ROUTER]}, "routers: name r1 used twice"),
    ],
)
def test_bad_configuration_is_one_line(tmp_path: Path, section: dict, expected: str) -> None:
    lines = problems(run(tmp_path, section))
    assert len(lines) == 1, lines
    assert expected in lines[0] and lines[0].startswith(str(tmp_path / "demo.yaml"))


def test_address_not_on_this_machine(tmp_path: Path) -> None:
    lines = problems(run(tmp_path, {"routers": [{**ROUTER, "address": "192.0.2.1"}]}))
    assert lines == [
        "demo-exporter: router r1: cannot bind 192.0.2.1:0: Cannot assign requested address; "
        "use an address of this machine (on loopback any 127.0.0.x works); change its address"
    ]


def test_snmp_port_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.31", 0))
        port = busy.getsockname()[1]
        lines = problems(run(tmp_path, {"routers": [ROUTER]}, "--snmp-port", str(port)))
    assert len(lines) == 1 and lines[0].startswith(
        f"demo-exporter: SNMP agent of r1: cannot bind 127.0.0.31:{port}: Address already in use"
    )
    assert lines[0].endswith("change demo-exporter.snmp.port")


def test_defaults_and_flags(tmp_path: Path) -> None:
    config = load_demo_config(None, {"targets": {"sflow": "192.0.2.9:6343"}})
    assert [(r.name, r.address, r.protocol) for r in config.routers] == [
        ("edge1.par1", "127.0.0.11", "netflow9"),
        ("edge2.par1", "127.0.0.12", "ipfix"),
        ("edge1.fra1", "127.0.0.13", "sflow"),
    ]
    assert config.targets.sflow == "192.0.2.9:6343" and config.targets.ipfix == "127.0.0.1:2055"
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        yaml.safe_dump({"kafka": {"brokers": ["k:9092"]}, "demo-exporter": {"seed": 3}})
    )
    assert load_demo_config(path).seed == 3  # the pipeline's sections are not its business
    path.write_text(yaml.safe_dump({"demo-exporterr": {}}))
    with pytest.raises(ConfigError, match="demo-exporterr: unknown section"):
        load_demo_config(path)


def test_traffic_follows_the_day_and_the_rate_exactly() -> None:
    night, evening = 1_700_000_000, 1_700_000_000
    while daily_factor(night) != min(daily_factor(night + h * 3600) for h in range(24)):
        night += 3600
    evening = night + 16 * 3600  # 05:00 -> 21:00
    assert daily_factor(evening) > 5 * daily_factor(night)
    pacer = Pacer(rate=10.0, daily=False, start=0.0)
    assert sum(pacer.due(t * 0.3) for t in range(1, 1001)) == 3000  # 300 s at 10/s
