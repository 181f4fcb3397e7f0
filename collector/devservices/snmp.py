"""Real SNMP agents on free ports: Debian's net-snmp `snmpd` and `snmpsim` (simulated routers
from .snmprec files), for the tests, the benchmarks and the demo."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from collector.devservices.base import Service, free_port, wait_for

SNMP_USER = ("flowuser", "authpass123", "privpass123")  # SHA / AES


def snmpsim_binary() -> Path:
    """snmpsim's responder, next to this interpreter (a virtualenv) or on PATH."""
    beside = Path(sys.executable).parent / "snmpsim-command-responder"
    if beside.exists():
        return beside
    found = shutil.which("snmpsim-command-responder")
    if not found:
        raise FileNotFoundError("snmpsim-command-responder not found: pip install snmpsim pysmi")
    return Path(found)


class Snmpd(Service):
    """Debian's net-snmp agent: v2c community `public`, v3 user flowuser (SHA/AES authPriv)."""

    name = "snmpd"
    user = SNMP_USER

    def __init__(self, port: int | None = None) -> None:
        super().__init__()
        self.port = port or free_port(socket.SOCK_DGRAM)

    def start(self, sys_name: str = "snmpd-router", aliases: dict[int, str] | None = None) -> Snmpd:
        user, auth, priv = self.user
        lines = [
            f"agentaddress udp:127.0.0.1:{self.port}",
            "rocommunity public 127.0.0.1",
            f'createUser {user} SHA "{auth}" AES "{priv}"',
            f"rouser {user} priv",
            f"sysName {sys_name}",
        ]
        for ifindex, alias in (aliases or {}).items():
            lines.append(f'override 1.3.6.1.2.1.31.1.1.1.18.{ifindex} octet_str "{alias}"')
        conf = self.dir / "snmpd.conf"
        conf.write_text("\n".join(lines) + "\n")
        persist = self.dir / "persist"
        persist.mkdir(exist_ok=True)
        self._spawn(
            ["/usr/sbin/snmpd", "-f", "-C", "-c", str(conf), "-m", "", "-Lo"],
            env={"SNMP_PERSISTENT_DIR": str(persist), "MIBS": ""},
        )
        wait_for(lambda: snmp_answers(self.port), 10, f"snmpd on {self.port}\n{self.log_tail()}")
        return self

    def restart(self, **kwargs: Any) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
            self._log.close()
        self.start(**kwargs)


def snmp_answers(port: int, community: str = "public") -> bool:
    out = subprocess.run(
        [
            "snmpget",
            "-v2c",
            "-c",
            community,
            "-m",
            "",
            "-t",
            "0.3",
            "-r",
            "0",
            f"127.0.0.1:{port}",
            "1.3.6.1.2.1.1.5.0",
        ],
        capture_output=True,
        text=True,
    )
    return out.returncode == 0


def snmpsim_interfaces(n: int = 50) -> dict[int, tuple[str, str, int]]:
    """ifIndex -> (ifName, ifAlias, ifHighSpeed) of the simulated router."""
    speeds = (1000, 10000, 100000)
    return {
        i: (f"et-0/0/{i - 1}", f"customer {i} - circuit C{1000 + i}", speeds[i % 3])
        for i in range(1, n + 1)
    }


def write_snmprec(path: Path, sys_name: str, interfaces: dict[int, tuple[str, str, int]]) -> None:
    rows = [("1.3.6.1.2.1.1.5.0", "4", sys_name)]
    for i, (name, _, _) in interfaces.items():
        rows.append((f"1.3.6.1.2.1.2.2.1.2.{i}", "4", f"Juniper {name}"))
    for i, (name, _, _) in interfaces.items():
        rows.append((f"1.3.6.1.2.1.31.1.1.1.1.{i}", "4", name))
    for i, (_, _, speed) in interfaces.items():
        rows.append((f"1.3.6.1.2.1.31.1.1.1.15.{i}", "66", str(speed)))
    for i, (_, alias, _) in interfaces.items():
        rows.append((f"1.3.6.1.2.1.31.1.1.1.18.{i}", "4", alias))

    def oid_key(row: tuple[str, str, str]) -> tuple[int, ...]:
        return tuple(int(x) for x in row[0].split("."))

    path.write_text("".join(f"{o}|{t}|{v}\n" for o, t, v in sorted(rows, key=oid_key)))


class SnmpSim(Service):
    """snmpsim router `router50` (community = file name) with 50 interfaces."""

    name = "snmpsim"
    community = "router50"

    def __init__(self) -> None:
        super().__init__()
        self.port = free_port(socket.SOCK_DGRAM)
        self.interfaces = snmpsim_interfaces()

    def start(self) -> SnmpSim:
        data = self.dir / "data"
        data.mkdir()
        write_snmprec(data / f"{self.community}.snmprec", "sim-router-par1", self.interfaces)
        self._spawn(
            [
                str(snmpsim_binary()),
                f"--data-dir={data}",
                f"--cache-dir={self.dir / 'cache'}",
                f"--agent-udpv4-endpoint=127.0.0.1:{self.port}",
                "--max-var-binds=1024",
            ],
            env={"SNMPSIM_ALLOW_ROOT": "true"},
        )
        wait_for(
            lambda: snmp_answers(self.port, self.community),
            30,
            f"snmpsim on {self.port}\n{self.log_tail()}",
            interval=0.2,
        )
        return self
