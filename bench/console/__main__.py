"""bench/console: the console's answer time beside the same SQL sent with clickhouse-client.

1. Debian's ClickHouse 18.16 with the schema, and N flows (default 10 million) that
   ClickHouse generates itself (`collector.console.demo.backfill_sql`, INSERT ... SELECT
   in chunks) spread over 30 days; the materialized views fill `flows` and the rollups.
2. `flowweir console` as a daemon; for each graph (24 h, 7 d and 30 d top-10 by
   InIfProvider and by SrcAS; a 24 h sankey of three dimensions): the median over a few
   runs of the HTTP request, twice: on a new connection with the answer decoded (`console`)
   and on one kept-alive connection, until the answer's last byte (`kept-alive`, what a
   browser pays); and of every statement it ran (the answer's `sql`, all of them, summed)
   sent with `clickhouse-client --time` (the client's own measure, without its start-up).
3. The time from opening the visualize page in Debian's chromium to the graph drawn.

Run: `.venv/bin/python -m bench.console [--flows 10000000] [--runs 5]`.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from collector.console.demo import backfill_sql, demo_console_section
from collector.devservices.base import free_port
from collector.devservices.clickhouse import ClickHouseServer
from collector.devservices.daemon import Daemon
from collector.schema.ddl import SchemaSettings
from collector.schema.executor import DriverExecutor
from collector.schema.migrate import Migrator

DAY = 86400
DB = "flowweir"
AUTH = "Basic " + base64.b64encode(b"demo:demo").decode()


def post(url: str, body: dict[str, Any]) -> tuple[float, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": AUTH},
    )
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as resp:
        data = json.load(resp)
    return time.perf_counter() - began, data


class KeptAlive:
    """One HTTP/1.1 connection for every request, as a browser keeps it."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=300)

    def post(self, path: str, body: dict[str, Any]) -> float:
        """Seconds until the answer's last byte (not decoded)."""
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Authorization": AUTH}
        try:
            return self._post(path, data, headers)
        except (OSError, http.client.HTTPException):
            # uvicorn closes a connection idle for 5 s (clickhouse-client ran meanwhile):
            # connect again, untimed, and time the request on that connection.
            self.connection.close()
            self.connection.connect()
            return self._post(path, data, headers)

    def _post(self, path: str, data: bytes, headers: dict[str, str]) -> float:
        began = time.perf_counter()
        self.connection.request("POST", f"/api/v0/console/{path}", data, headers)
        resp = self.connection.getresponse()
        resp.read()
        took = time.perf_counter() - began
        if resp.status != 200:
            raise RuntimeError(f"{path}: HTTP {resp.status}")
        return took


def client_time(server: ClickHouseServer, sql: str) -> float:
    run = subprocess.run(
        [
            "clickhouse-client",
            "--port",
            str(server.tcp_port),
            "--user",
            "flowweir_console",
            "--time",
            "--format",
            "Null",
            "--query",
            sql,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(run.stderr.strip().splitlines()[-1])


def fill(server: ClickHouseServer, flows: int, now: int) -> float:
    executor = DriverExecutor(server.address, timeout=600)
    Migrator(
        executor, SchemaSettings(database=DB), dictionaries_path=str(server.dir / "dictionaries")
    ).migrate()
    chunks = max(1, flows // 1_000_000)
    start = now - 30 * DAY
    step = 30 * DAY // chunks
    began = time.perf_counter()
    for i in range(chunks):
        executor.query(backfill_sql(DB, start + i * step, start + (i + 1) * step, flows // chunks))
    return time.perf_counter() - began


def browser_time(url: str, now: int, runs: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    query = urlencode(
        {"start": now - DAY, "end": now, "dimensions": "InIfProvider", "graph": "stacked"}
    )
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        context = browser.new_context(http_credentials={"username": "demo", "password": "demo"})
        page = context.new_page()
        page.goto(f"{url}/visualize?{query}")  # warm: assets in the cache
        page.wait_for_selector("body[data-drawn='1']", timeout=60000)
        for _ in range(runs):
            began = time.perf_counter()
            page.goto(f"{url}/visualize?{query}")
            page.wait_for_selector("body[data-drawn='1']", timeout=60000)
            times.append(time.perf_counter() - began)
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.console")
    parser.add_argument("--flows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("uptime:", os.popen("uptime").read().strip())
    now = int(time.time()) // 3600 * 3600
    with ClickHouseServer() as server, tempfile.TemporaryDirectory() as tmp:
        seconds = fill(server, args.flows, now)
        print(f"generated {args.flows:,} flows over 30 days in {seconds:.1f} s")
        config = {
            "clickhouse": {"servers": [server.address], "database": DB, "timeout": 300},
            "console": demo_console_section(
                str(Path(tmp) / "console.sqlite"), f"127.0.0.1:{free_port()}"
            ),
        }
        with Daemon("console", config) as console:
            cases = [
                (f"{d} d top-10 by {dim}", "graph/line", d, [dim])
                for dim in ("InIfProvider", "SrcAS")
                for d in (1, 7, 30)
            ]
            cases.append(
                (
                    "1 d sankey Exporter/InIfProvider/SrcAS",
                    "graph/sankey",
                    1,
                    ["ExporterName", "InIfProvider", "SrcAS"],
                )
            )
            kept = KeptAlive(console.http)
            print(
                f"{'graph':42} {'table':14} {'SQL':>3} {'console':>9} {'kept-alive':>10} "
                f"{'client':>9} {'ratio':>6} {'kept':>6}"
            )
            for name, path, days, dims in cases:
                body = {"start": now - days * DAY, "end": now, "dimensions": dims, "limit": 10}
                post(console.url(path), body)  # warm the caches of both
                kept.post(path, body)
                api, alive, client = [], [], []
                answer: Any = None
                for _ in range(args.runs):  # interleaved: a load change hits all three alike
                    took, answer = post(console.url(path), body)
                    api.append(took)
                    alive.append(kept.post(path, body))
                    # Every statement the console ran for this graph, one after the other.
                    client.append(sum(client_time(server, sql) for sql in answer["sql"]))
                c, k = statistics.median(api), statistics.median(alive)
                d = statistics.median(client)
                print(
                    f"{name:42} {answer['table']['name']:14} {len(answer['sql']):3} "
                    f"{c * 1000:7.0f}ms {k * 1000:8.0f}ms {d * 1000:7.0f}ms "
                    f"{c / d:5.2f}x {k / d:5.2f}x"
                )
            drawn = browser_time(f"http://{console.http}", now, args.runs)
            print(
                f"visualize page in chromium, open to graph drawn (1 d, InIfProvider): median "
                f"{statistics.median(drawn) * 1000:.0f} ms (min {min(drawn) * 1000:.0f}, "
                f"max {max(drawn) * 1000:.0f})"
            )
    print("uptime:", os.popen("uptime").read().strip())


if __name__ == "__main__":
    main()
