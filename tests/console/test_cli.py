"""`flowweir console --config FILE` as a real process, over flows ClickHouse generated itself
(`collector.console.demo.backfill_sql`, what the demo backfills)."""

from __future__ import annotations

import base64
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from collector.console.demo import start_demo_console
from collector.demoexporter.config import DemoExporterConfig
from tests.console.conftest import migrated

HOUR = 3600


def post(url: str, body: dict[str, Any], auth: str = "demo:demo") -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(auth.encode()).decode(),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.load(resp)


def test_console_daemon_over_a_backfilled_day(clickhouse_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What `make demo` does: the schema, then `start_demo_console` (backfill, daemon, URL)."""
    db = "console_cli"
    executor = migrated(clickhouse_server, db)
    now = int(time.time()) // HOUR * HOUR
    demo = {"clickhouse": {"servers": [clickhouse_server.address], "database": db}}
    console, url = start_demo_console(demo, tmp_path, rows=48_000, now=now + 60)
    try:
        assert executor.query(f"SELECT count() FROM {db}.flows")[0][0] == 48_000
        assert url == f"http://{console.http}/"
        with urllib.request.urlopen(
            urllib.request.Request(url, headers={"Authorization": "Basic ZGVtbzpkZW1v"})
        ) as page:
            assert b"flowweir console" in page.read()
        assert console.health()["ok"]
        graph = post(
            console.url("graph/line"),
            {
                "start": now - 24 * HOUR,
                "end": now,
                "points": 24,
                "dimensions": ["InIfProvider"],
                "filter": "InIfBoundary = external",
            },
        )
        assert graph["table"]["name"] == "flows_1h0m0s"
        # The demo exporter's transits and peerings (edge1.par1, edge2.par1, edge1.fra1).
        assert {s["dimensions"][0] for s in graph["series"]} == {
            "Cogent",
            "Lumen",
            "Arelion",
            "FranceIX",
            "DE-CIX",
        }
        # The daily pattern: 18:00 UTC carries several times what 06:00 does.
        total = [sum(s["values"][i] for s in graph["series"]) for i in range(24)]
        hours = [time.gmtime(now - 24 * HOUR + i * HOUR).tm_hour for i in range(24)]
        evening, morning = total[hours.index(18)], total[hours.index(6)]
        assert evening > 3 * morning
        # The live demo's routers: the same addresses, names and interfaces as their agents
        # answer, so the backfilled day and the live flows are the same series.
        routers = DemoExporterConfig().routers
        seen = executor.query(
            f"SELECT DISTINCT IPv6NumToString(ExporterAddress), ExporterName, ExporterSite, "
            f"SamplingRate, InIf, InIfName, InIfDescription, InIfSpeed FROM {db}.flows"
        )
        assert {(r[0], r[1], r[2], r[3]) for r in seen} == {
            (f"::ffff:{r.address}", r.name, r.name.split(".")[1], r.sampling_rate) for r in routers
        }
        assert {(r[1], r[4], r[5], r[6], r[7]) for r in seen} == {
            (r.name, i.index, i.name, i.description, i.speed) for r in routers for i in r.interfaces
        }
        with pytest.raises(urllib.error.HTTPError) as refused:
            post(console.url("graph/line"), {"start": now - HOUR, "end": now}, auth="demo:nope")
        assert refused.value.code == 401
        metrics = console.metrics_text()
        assert 'flowweir_console_clickhouse_queries_total{table="flows_1h0m0s"}' in metrics
        if shutil.which("promtool"):
            check = subprocess.run(
                ["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True
            )
            assert check.returncode == 0, check.stdout + check.stderr
        console.signal(signal.SIGTERM)
        assert console.wait() == 0
    finally:
        console.stop()


def run_console(config: Path) -> subprocess.CompletedProcess[str]:
    """`flowweir console --config CONFIG` that is expected to refuse to start."""
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", "console", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("console:\n  auth:\n    mode: ldap\n")
    run = run_console(bad)
    assert run.returncode == 1
    assert "console.auth.mode" in run.stderr and "Traceback" not in run.stderr


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = tmp_path / "console.yaml"
        config.write_text(
            f"console:\n  http: {{listen: '127.0.0.1:{port}'}}\n"
            f"  state-file: {tmp_path / 'state.sqlite'}\n"
        )
        run = run_console(config)
    assert run.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr
    assert "change console.http.listen" in run.stderr and "Traceback" not in run.stderr
