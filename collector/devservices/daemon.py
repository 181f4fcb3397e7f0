"""Run a flowweir daemon (inlet, outlet, orchestrator, ...) as a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from collector.devservices.base import free_port, wait_for


class Daemon:
    def __init__(
        self,
        service: str,
        config: dict[str, Any],
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        prefix: tuple[str, ...] = (),
        subcommand: str = "",
    ) -> None:
        self.service = service
        self.config = config
        self.dir = Path(tempfile.mkdtemp(prefix=f"flowweir-{service}-"))
        self.config_path = self.dir / "config.yaml"
        section = config.setdefault(service, {})
        http = section.setdefault("http", {})
        if "listen" not in http:
            http["listen"] = f"127.0.0.1:{free_port()}"
        self.http = http["listen"]
        self.config_path.write_text(yaml.safe_dump(config))
        self.args = args
        self.env = env or {}
        self.prefix = prefix
        self.subcommand = (subcommand,) if subcommand else ()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "daemon.log"

    def url(self, what: str) -> str:
        return f"http://{self.http}/api/v0/{self.service}/{what}"

    def start(self, wait: bool = True, timeout: float = 60) -> Daemon:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        argv = [
            *self.prefix,
            sys.executable,
            "-m",
            "collector.cli",
            self.service,
            *self.subcommand,
            "--config",
            str(self.config_path),
            *self.args,
        ]
        self.proc = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        if wait:
            wait_for(
                lambda: self.healthy(),
                timeout,
                f"{self.service} healthcheck\n{self.log()}",
                interval=0.1,
            )
        return self

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.service} exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(self.url("healthcheck"), timeout=1) as resp:
                return bool(json.load(resp)["ok"])
        except OSError:
            return False

    def health(self) -> dict[str, Any]:
        """The healthcheck's answer, healthy (200) or not (503: the body says why)."""
        import urllib.error

        try:
            with urllib.request.urlopen(self.url("healthcheck"), timeout=2) as resp:
                return dict(json.load(resp))
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                raise
            return dict(json.load(exc))

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self.url("metrics"), timeout=5) as resp:
            return str(resp.read().decode())

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        from prometheus_client.parser import text_string_to_metric_families

        out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def metric_sum(self, name: str, **labels: str) -> float:
        return sum(
            v
            for (n, lbls), v in self.metrics().items()
            if n == name and all((k, val) in lbls for k, val in labels.items())
        )

    def wait_metric(self, name: str, expected: float, timeout: float = 5.0, **labels: str) -> float:
        """Metrics are published by workers every 0.5 s: wait until `name` reaches `expected`."""
        import time

        deadline = time.monotonic() + timeout
        value = self.metric_sum(name, **labels)
        while value != expected and time.monotonic() < deadline:
            time.sleep(0.1)
            value = self.metric_sum(name, **labels)
        return value

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill_all(self) -> None:
        """SIGKILL the daemon and every process it started (a crash, not a shutdown)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> Daemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def orchestrate_once(
    config: dict[str, Any], directory: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`flowweir orchestrator --once` on `config`: the topic and the schema, then exit."""
    path = directory / "orchestrator.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", "orchestrator", "--config", str(path), "--once"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
