"""What `make demo` and `bench/console` need from the console.

- `backfill_sql(...)`: one `INSERT INTO flows_raw ... SELECT ... FROM numbers(N)`
  that makes ClickHouse itself generate N flows spread over a time range: three
  exporters, interfaces with providers (transit, peering, core, customer), a few
  source ASes and countries, TCP/UDP/ICMP with common ports, and a daily pattern
  (traffic peaks in the evening, is lowest at 06:00 UTC). The materialized views
  fill `flows` and the rollups as for real flows. Same SQL on 18.16 and modern servers.
- `demo_console_section(...)`: a `console` configuration section with one built-in
  user, to start `flowweir console` beside the demo pipeline.
- `start_demo_console(config, directory)`: both, for `scripts/demo.py`: backfill the past
  24 hours, start the console as a daemon, return it and the URL to print.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from collector.console.auth import hash_password
from collector.devservices.base import free_port
from collector.devservices.daemon import Daemon
from collector.schema.columns import COLUMNS, IP
from collector.schema.ddl import RAW_TABLE, sql_string
from collector.schema.executor import DriverExecutor

EXPORTERS = ("edge1-par", "edge2-ams", "core1-fra")
# ifIndex: (name, description, provider, connectivity, boundary, speed Mbit/s)
INTERFACES = {
    1: ("et-0/0/1", "Transit: Cogent 100G", "Cogent", "Transit", 1, 100000),
    2: ("et-0/0/2", "Peering: FranceIX", "FranceIX", "Peering", 1, 100000),
    3: ("xe-1/0/0", "Core: par2", "", "core", 2, 10000),
    4: ("xe-1/0/1", "Customer: ACME", "", "customer", 2, 10000),
}
SOURCE_AS = ((15169, "US"), (13335, "US"), (16509, "US"), (32934, "IE"), (2906, "NL"), (3215, "FR"))
PORTS = (443, 443, 443, 80, 53, 22, 123, 8443)


def _array(values: Any) -> str:
    return "[" + ", ".join(sql_string(v) if isinstance(v, str) else str(v) for v in values) + "]"


def _pick(values: Any, index: str) -> str:
    return f"{_array(values)}[{index} + 1]"


def backfill_sql(database: str, start: int, end: int, rows: int, scale: int = 1) -> str:
    """ClickHouse generates `rows` flows with TimeReceived in [start, end); `scale` multiplies
    each flow's packets and bytes (the demo matches the live demo exporter's volume with it)."""
    span = max(end - start, 1)
    h = "cityHash64(number)"
    inbound = f"({h} % 4)"  # 0-1: from transit/peering to core/customer, 2-3: the reverse
    in_if = f"toUInt32({inbound} + 1)"
    out_if = f"toUInt32(if({inbound} < 2, 3 + intDiv({h}, 7) % 2, 1 + intDiv({h}, 7) % 2))"
    when = f"toUInt32({start} + intDiv(number * {span}, {rows}))"
    # Daily pattern: 0.25 at 06:00 UTC, 1.75 at 18:00.
    daily = f"(1 - 0.75 * cos(2 * pi() * ((({when}) % 86400) / 86400 - 0.25)))"
    as_index = f"(intDiv({h}, 13) % {len(SOURCE_AS)})"
    proto_roll = f"(intDiv({h}, 17) % 100)"

    def iface(field: int, which: str) -> str:
        values = [INTERFACES[i][field] for i in sorted(INTERFACES)]
        return f"{_array(values)}[{which}]"

    values: dict[str, str] = {
        "TimeReceived": f"toDateTime({when})",
        "SamplingRate": "toUInt64(1000)",
        "ExporterAddress": f"toFixedString(unhex(concat('00000000000000000000ffffc00002', "
        f"{_pick(['01', '02', '03'], f'({h} % 3)')})), 16)",
        "ExporterName": _pick(EXPORTERS, f"({h} % 3)"),
        "ExporterSite": _pick(["par", "ams", "fra"], f"({h} % 3)"),
        "SrcAddr": "toFixedString(unhex(concat('00000000000000000000ffff', "
        f"hex(toUInt32(3325256704 + intDiv({h}, 11) % 65536)))), 16)",
        "DstAddr": "toFixedString(unhex(concat('00000000000000000000ffff', "
        f"hex(toUInt32(3405803776 + intDiv({h}, 19) % 256)))), 16)",
        "SrcAS": f"toUInt32({_array([a for a, _ in SOURCE_AS])}[{as_index} + 1])",
        "DstAS": "toUInt32(64500)",
        "SrcNetCountry": f"{_array([c for _, c in SOURCE_AS])}[{as_index} + 1]",
        "DstNetCountry": "'FR'",
        "InIf": in_if,
        "OutIf": out_if,
        "EType": "toUInt16(2048)",
        "Proto": f"toUInt8(if({proto_roll} < 80, 6, if({proto_roll} < 98, 17, 1)))",
        "SrcPort": f"toUInt16({_pick(PORTS, f'(intDiv({h}, 23) % {len(PORTS)})')})",
        "DstPort": f"toUInt16(32768 + intDiv({h}, 29) % 28000)",
        "Packets": f"toUInt64((1 + intDiv({h}, 31) % 20) * {int(scale)})",
        "Bytes": f"toUInt64((1 + intDiv({h}, 31) % 20) * (64 + intDiv({h}, 37) % 1400) * {daily}"
        f" * {int(scale)})",
        "ForwardingStatus": "toUInt8(64)",
        "FlowDirection": "toUInt8(1)",
    }
    for side, which in (("In", in_if), ("Out", out_if)):
        values[f"{side}IfName"] = iface(0, which)
        values[f"{side}IfDescription"] = iface(1, which)
        values[f"{side}IfProvider"] = iface(2, which)
        values[f"{side}IfConnectivity"] = iface(3, which)
        values[f"{side}IfBoundary"] = f"toUInt8({iface(4, which)})"
        values[f"{side}IfSpeed"] = f"toUInt32({iface(5, which)})"
    exprs = []
    for col in COLUMNS:
        if col.name in values:
            exprs.append(values[col.name])
        elif col.ch_type == IP:
            exprs.append("toFixedString('', 16)")
        elif col.ch_type.startswith("Array("):
            exprs.append("CAST([] AS Array(UInt32))")
        elif col.ch_type == "String":
            exprs.append("''")
        else:
            exprs.append(f"to{col.ch_type}(0)")
    names = ", ".join(f"`{c.name}`" for c in COLUMNS)
    return (
        f"INSERT INTO {database}.{RAW_TABLE} ({names}) SELECT {', '.join(exprs)} "
        f"FROM numbers({int(rows)})"
    )


def demo_console_section(
    state_file: str, listen: str, user: str = "demo", password: str = "demo"
) -> dict[str, Any]:
    """A `console` section for the demo: built-in user `user`, the devservices' read-only user."""
    return {
        "http": {"listen": listen},
        "clickhouse-username": "flowweir_console",
        "state-file": state_file,
        "auth": {"users": [{"name": user, "password-hash": hash_password(password)}]},
    }


def start_demo_console(
    config: dict[str, Any],
    directory: Path,
    hours: int = 24,
    rows: int = 500_000,
    scale: int = 100,
    user: str = "demo",
    password: str = "demo",
    now: int | None = None,
) -> tuple[Daemon, str]:
    """For `make demo`: backfill the past `hours`, start `flowweir console`, return it and its URL.

    `scale` 100 puts the backfill near the live demo exporter's volume (a few Gbit/s per router).
    `config` is the demo's configuration (its `clickhouse` section names the server and the
    database the orchestrator already created); the backfill writes as that section's user,
    the console reads as the devservices' read-only `flowweir_console`. The caller stops the
    daemon (`daemon.stop()`); sign in as `user`/`password`.
    """
    ch = config.get("clickhouse", {})
    database = ch.get("database", "flowweir")
    server = ch.get("servers", ["127.0.0.1:9000"])[0]
    end = int(time.time() if now is None else now) - 60
    executor = DriverExecutor(server, ch.get("username", "default"), ch.get("password", ""), 300)
    try:
        executor.query(backfill_sql(database, end - hours * 3600, end, rows, scale))
    finally:
        executor.close()
    listen = f"127.0.0.1:{free_port()}"
    console_config = {
        **{k: v for k, v in config.items() if k in ("clickhouse", "orchestrator", "outlet")},
        "console": demo_console_section(str(directory / "console.sqlite"), listen, user, password),
    }
    daemon = Daemon("console", console_config).start()
    return daemon, f"http://{listen}/"
