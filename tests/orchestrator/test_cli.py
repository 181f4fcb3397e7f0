"""`flowweir orchestrator` as a user runs it, against the real 18.16 server and Tansu."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from collector.devservices.base import free_port, wait_for
from tests.promtool import assert_clean_for_promtool

ROOT = Path(__file__).resolve().parents[2]


def _write_config(path: Path, clickhouse: str, kafka: str, database: str, **orch: str) -> Path:
    lines = [
        f"kafka: {{brokers: ['{kafka}'], topic: {database}, partitions: 2}}",
        f"clickhouse: {{servers: ['{clickhouse}'], database: {database}, timeout: 2}}",
        "orchestrator:",
        *(f"  {k}: {v}" for k, v in orch.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _flowweir(*args: str) -> list[str]:
    return [sys.executable, "-m", "collector.cli", "orchestrator", *args]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_once_creates_everything_then_changes_nothing(
    tmp_path, clickhouse_server, kafka_broker
) -> None:  # type: ignore[no-untyped-def]
    db = f"cli{uuid.uuid4().hex[:6]}"
    config = _write_config(
        tmp_path / "flowweir.yaml",
        clickhouse_server.address,
        kafka_broker.bootstrap,
        db,
        **{"dictionaries-path": str(clickhouse_server.dir / "dictionaries")},
    )
    first = subprocess.run(
        _flowweir("--config", str(config), "--once"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    assert "schema migrated" in first.stderr and f"created topic {db}-v1" in first.stderr
    tables = {r[0] for r in clickhouse_server.client().execute(f"SHOW TABLES FROM {db}")}
    assert {"flows_raw", "flows", "flows_1m0s", "flows_5m0s", "flows_1h0m0s", "exporters"} <= tables
    second = subprocess.run(
        _flowweir("--config", str(config), "--once"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    assert "schema up to date" in second.stderr and "0 statements" in second.stderr
    assert "created topic" not in second.stderr


def test_once_unreachable_servers_fail_clearly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ch, kafka = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    config = _write_config(
        tmp_path / "flowweir.yaml", ch, kafka, "nowhere", **{"startup-timeout": "2s"}
    )
    run = subprocess.run(
        _flowweir("--config", str(config), "--once"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert f"ClickHouse {ch} unreachable" in run.stderr and "clickhouse.servers" in run.stderr
    assert f"Kafka {kafka} unreachable" in run.stderr and "kafka.brokers" in run.stderr
    assert "Traceback" not in run.stderr


def test_bad_configuration_is_one_clear_message(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "flowweir.yaml"
    config.write_text("orchestrator:\n  resolutions: [{interval: 1m}, {interval: 60}]\n")
    run = subprocess.run(
        _flowweir("--config", str(config), "--once"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "interval 1m listed twice" in run.stderr and "Traceback" not in run.stderr


def test_daemon_serves_metrics_reloads_and_stops(tmp_path, clickhouse_server, kafka_broker) -> None:  # type: ignore[no-untyped-def]
    db = f"cli{uuid.uuid4().hex[:6]}"
    port = free_port()
    settings = {
        "http": f"{{listen: '127.0.0.1:{port}'}}",
        "dictionaries-path": str(clickhouse_server.dir / "dictionaries"),
    }
    config = _write_config(
        tmp_path / "flowweir.yaml",
        clickhouse_server.address,
        kafka_broker.bootstrap,
        db,
        **settings,
    )
    proc = subprocess.Popen(
        _flowweir("--config", str(config)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/api/v0/orchestrator"
    try:
        wait_for(lambda: _get(f"{base}/healthcheck")[0] == 200, 60, "orchestrator healthy")
        health = json.loads(_get(f"{base}/healthcheck")[1])
        assert health["ok"] and health["clickhouse"] == {clickhouse_server.address: "ready"}
        # The first retention pass follows the first successful migration.
        retention_ran = 'flowweir_orchestrator_retention_runs_total{result="ok"} 1.0'
        wait_for(lambda: retention_ran in _get(f"{base}/metrics")[1].decode(), 30, "retention")
        status, body = _get(f"{base}/metrics")
        assert status == 200
        assert "flowweir_orchestrator_clickhouse_migration_statements_total" in body.decode()
        assert_clean_for_promtool(body)
        # SIGHUP: the configuration file is read again and the migrations applied again.
        settings["resolutions"] = "[{interval: 1m, retention: 7d}, {interval: 10s, retention: 1d}]"
        _write_config(config, clickhouse_server.address, kafka_broker.bootstrap, db, **settings)
        proc.send_signal(signal.SIGHUP)
        client = clickhouse_server.client()
        wait_for(
            lambda: "flows_10s" in {r[0] for r in client.execute(f"SHOW TABLES FROM {db}")},
            60,
            "flows_10s after SIGHUP",
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    output = proc.stdout.read() if proc.stdout else ""
    assert "Traceback" not in output
    assert "orchestrator stopped" in output


def test_daemon_waits_for_clickhouse(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """ClickHouse down at start: one clear line, quiet retries, migrated once it is up."""
    from collector.devservices.clickhouse import ClickHouseServer

    server = ClickHouseServer()  # ports chosen, not started yet
    port = free_port()
    config = _write_config(
        tmp_path / "flowweir.yaml",
        server.address,
        "127.0.0.1:1",
        "late",
        **{"http": f"{{listen: '127.0.0.1:{port}'}}", "retry-max-interval": "1s"},
    )
    proc = subprocess.Popen(
        [*_flowweir("--config", str(config), "--no-kafka")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/api/v0/orchestrator"
    try:
        wait_for(lambda: _get(f"{base}/healthcheck")[0] == 503, 30, "unhealthy orchestrator")
        health = json.loads(_get(f"{base}/healthcheck")[1])
        assert "unreachable" in health["clickhouse"][server.address]
        wait_for(
            lambda: (
                'errors_total{component="clickhouse",kind="unreachable"} 3.0'
                in _get(f"{base}/metrics")[1].decode()
            ),
            30,
            "three failed attempts",
        )
        with server:
            wait_for(lambda: _get(f"{base}/healthcheck")[0] == 200, 60, "healthy orchestrator")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    output = proc.stdout.read() if proc.stdout else ""
    assert "Traceback" not in output
    unreachable = [line for line in output.splitlines() if "unreachable" in line]
    assert len(unreachable) == 1, output  # retries do not repeat the message
    assert "clickhouse.servers" in unreachable[0]
    assert "schema migrated" in output


def test_print_ddl_runs_in_chdb(tmp_path, chdb_executor) -> None:  # type: ignore[no-untyped-def]
    db = f"ddl{uuid.uuid4().hex[:6]}"
    config = tmp_path / "flowweir.yaml"
    config.write_text(f"clickhouse: {{database: {db}}}\n")
    run = subprocess.run(
        _flowweir("--config", str(config), "--print-ddl", "modern"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    for statement in filter(None, (s.strip() for s in run.stdout.split(";\n\n"))):
        chdb_executor.query(statement)
    tables = {r[0] for r in chdb_executor.query(f"SHOW TABLES FROM {db}")}
    assert {"flows_raw", "flows", "flows_1h0m0s", "exporters", "flows_raw_flows_mv"} <= tables
