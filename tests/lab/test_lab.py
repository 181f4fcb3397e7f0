"""The lab without VMs: two routers in network namespaces, the collector in the root namespace.

Same topology as vagrant/Vagrantfile (one /30 per router link, 10.99.x.0): each
router runs a real snmpd (its sysName, its interfaces, their ifAlias) and exports flows to the collector over its veth link:
router1 NetFlow v9 (`flowweir demo-exporter`, 600 flows through interfaces 2 and 3),
router2 IPFIX (softflowd over a generated pcap). The collector runs the
orchestrator, inlet, outlet and an enrichment worker polling the routers by
SNMP; the flows must land in ClickHouse named after the routers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from collector.devservices.base import Service, free_port, wait_for
from collector.devservices.daemon import Daemon
from tests.outlet.pipeline.conftest import Pipeline

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip"), reason="network namespaces need root and iproute2"
)

ROUTERS = {
    "router1": {"link": 1, "ifaces": {3: ("xe1", "Transit: Cogent")}},
    "router2": {"link": 2, "ifaces": {3: ("xe1", "Peering: FranceIX")}},
}


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


class Router(Service):
    """A namespace with a veth link to the root namespace (ifIndex 2), an uplink (ifIndex 3) and snmpd."""

    def __init__(self, name: str, link: int, ifaces: dict[int, tuple[str, str]]) -> None:
        self.name = name
        super().__init__()
        self.ns = f"fwl{os.getpid() % 100000}{name[-1]}"
        self.link = link
        self.ifaces = ifaces
        self.address = f"10.99.{link}.2"
        self.gateway = f"10.99.{link}.1"
        self.host_if = f"{self.ns}h"

    def start(self) -> Router:
        sh("ip", "netns", "add", self.ns)
        sh(
            "ip",
            "link",
            "add",
            self.host_if,
            "type",
            "veth",
            "peer",
            "name",
            "ge0",
            "netns",
            self.ns,
            "index",
            "2",
        )
        sh("ip", "addr", "add", f"{self.gateway}/30", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        ns = ("ip", "netns", "exec", self.ns)
        sh(*ns, "ip", "link", "set", "lo", "up")
        sh(*ns, "ip", "addr", "add", f"{self.address}/30", "dev", "ge0")
        sh(*ns, "ip", "link", "set", "ge0", "up")
        for index, (ifname, _alias) in self.ifaces.items():
            # a veth pair stands in for an uplink (this kernel has no dummy driver)
            sh(
                *ns,
                "ip",
                "link",
                "add",
                ifname,
                "index",
                str(index),
                "type",
                "veth",
                "peer",
                "name",
                f"{ifname}p",
                "index",
                str(index + 10),
            )
            sh(*ns, "ip", "link", "set", ifname, "up")
        conf = self.dir / "snmpd.conf"
        # net-snmp does not read the kernel's interface alias: descriptions come as a router's
        # configured ifAlias would, from the agent's configuration.
        aliases = {
            2: f"Core: collector link {self.link}",
            **{i: a for i, (_, a) in self.ifaces.items()},
        }
        overrides = "".join(
            f'override 1.3.6.1.2.1.31.1.1.1.18.{i} octet_str "{a}"\n' for i, a in aliases.items()
        )
        conf.write_text(
            f"agentaddress udp:{self.address}:161\nrocommunity public\nsysName {self.name}\n{overrides}"
        )
        (self.dir / "persist").mkdir()
        self._spawn(
            [*ns, "/usr/sbin/snmpd", "-f", "-C", "-c", str(conf), "-m", "", "-Lo"],
            env={"SNMP_PERSISTENT_DIR": str(self.dir / "persist"), "MIBS": ""},
        )
        wait_for(lambda: self._answers(), 15, f"snmpd in {self.ns}\n{self.log_tail()}")
        return self

    def _answers(self) -> bool:
        out = subprocess.run(
            [
                "snmpget",
                "-v2c",
                "-c",
                "public",
                "-On",
                "-t",
                "0.5",
                "-r",
                "0",
                self.address,
                "1.3.6.1.2.1.1.5.0",
            ],
            capture_output=True,
            text=True,
        )
        return self.name in out.stdout

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *argv],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )

    def stop(self) -> None:
        super().stop()
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)


@pytest.fixture
def routers():
    made = []
    try:
        for name, spec in ROUTERS.items():
            made.append(Router(name, spec["link"], spec["ifaces"]).start())
        yield {r.name: r for r in made}
    finally:
        for r in made:
            r.stop()


def test_lab_flows_arrive_named_from_the_routers_snmp(
    kafka_broker, clickhouse_server, redis_server, routers, tmp_path
):
    from tests.outlet.decoder.exporters import write_pcap

    pipeline = Pipeline(kafka_broker, clickhouse_server, redis_server, tmp_path)
    queue = f"lab-{os.getpid()}"  # the workers consume what the outlet sends to
    pipeline.base["enrich"] = {
        "providers": ["snmp"],
        "queue": queue,
        "snmp": {"communities": {"10.99.0.0/16": ["public"]}},
    }
    worker: Daemon | None = None
    exporter: Daemon | None = None
    try:
        pipeline.orchestrate()
        pipeline.inlet(host="0.0.0.0")
        worker = Daemon(
            "enrich", pipeline.base, args=("--pool", "solo"), subcommand="worker"
        ).start()
        pipeline.outlet(metadata="enrich", enrichment={"initial-delay": "30s", "queue": queue})
        # router1: NetFlow v9 from `flowweir demo-exporter` through interfaces 2 (ge0) and 3 (xe1)
        r1 = routers["router1"]
        exporter = Daemon(
            "demo-exporter",
            {
                "demo-exporter": {
                    "http": {"listen": f"{r1.address}:{free_port()}"},
                    "targets": {"netflow9": f"{r1.gateway}:{pipeline.port}"},
                    "snmp": {"enabled": False},  # snmpd answers in the lab
                    "daily-pattern": False,
                    "flow-limit": 600,
                    "routers": [
                        {
                            "name": "router1",
                            "address": r1.address,
                            "protocol": "netflow9",
                            "flows-per-second": 400,
                            "interfaces": [
                                {
                                    "index": 2,
                                    "name": "ge0",
                                    "description": "Core: collector link 1",
                                },
                                {"index": 3, "name": "xe1", "description": "Transit: Cogent"},
                            ],
                        }
                    ],
                }
            },
            prefix=("ip", "netns", "exec", r1.ns),
            env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        ).start()
        # router2: IPFIX from softflowd over generated traffic
        r2 = routers["router2"]
        write_pcap(tmp_path / "traffic.pcap", flows=30)
        done = r2.run(
            "softflowd",
            "-r",
            str(tmp_path / "traffic.pcap"),
            "-n",
            f"{r2.gateway}:{pipeline.port}",
            "-v",
            "10",
            "-d",
        )
        assert done.returncode == 0, done.stderr
        with contextlib.suppress(TimeoutError):  # the assertions below say what is missing
            wait_for(
                lambda: len(pipeline.query("SELECT DISTINCT ExporterName FROM flows")) >= 2,
                90,
                "flows of both routers",
                interval=1,
            )
        exporters = dict(
            pipeline.query("SELECT ExporterName, count() FROM flows GROUP BY ExporterName")
        )
        assert exporters.get("router1") == 600 and exporters.get("router2", 0) > 0, exporters
        names = set(
            pipeline.query(
                "SELECT DISTINCT InIf, InIfName, InIfDescription FROM flows "
                "WHERE ExporterName = 'router1'"
            )
        )
        assert names == {(2, "ge0", "Core: collector link 1"), (3, "xe1", "Transit: Cogent")}
    finally:
        if exporter is not None:
            exporter.stop()
        pipeline.stop()
        if worker is not None:
            worker.stop()
