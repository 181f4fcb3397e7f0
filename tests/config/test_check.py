"""`flowweir config check` as an operator runs it: one line per problem, naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def check(tmp_path: Path, text: str | bytes, action: str = "check") -> subprocess.CompletedProcess:
    path = tmp_path / "flowweir.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", "config", action, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def problems(result: subprocess.CompletedProcess) -> list[str]:
    """The lines that name a problem (after the `configuration error:` heading)."""
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "configuration error:", result.stderr
    return lines[1:]


@pytest.mark.parametrize(
    ("config", "key", "says"),
    [
        ({"redis": {"url": "redis://h:abc/0"}}, "redis.url", "port is not a number"),
        ({"redis": {"url": "redis://h:6379/x"}}, "redis.url", "database 'x' is not a number"),
        ({"redis": {"url": "http://h/"}}, "redis.url", "redis://host:port/db"),
        ({"clickhouse": {"servers": ["h:x"]}}, "clickhouse.servers[0]", "port 'x' is not a number"),
        ({"kafka": {"brokers": ["h:x"]}}, "kafka.brokers[0]", "port 'x' is not a number"),
        ({"kafka": {"brokers": [":9092"]}}, "kafka.brokers[0]", "host missing"),
        (
            {"outlet": {"http": {"listen": "192.0.2.1:8081"}}},
            "outlet.http.listen",
            "not an address of this machine",
        ),
        (
            {"inlet": {"inputs": [{"listen": "300.1.1.1:2055"}]}},
            "inlet.inputs[0].listen",
            "neither an IP address nor a host name",
        ),
        (
            {"inlet": {"inputs": [{"listen": "224.0.0.1:2055"}]}},
            "inlet.inputs[0].listen",
            "not a unicast address",
        ),
        ({"inlet": {"batch-wait": "soon"}}, "inlet.batch-wait", "not a duration"),
        ({"outlet": {"networks": {"corp": {}}}}, "outlet.networks", "'corp' is not a subnet"),
        (
            {"outlet": {"enrichment": {"query-timeout": "5 min"}}},
            "outlet.enrichment.query-timeout",
            "not a duration",
        ),
        ({"enrich": {"query-timeout": "1s"}}, "enrich.query-timeout", "unknown key"),
    ],
)
def test_bad_value_is_one_line_naming_the_key(tmp_path, config, key, says):
    lines = problems(check(tmp_path, yaml.safe_dump(config)))
    assert len(lines) == 1, lines
    assert f": {key}: " in lines[0] and says in lines[0], lines[0]


def test_acceptance_values_and_the_moved_keys_are_accepted(tmp_path):
    config = {
        "inlet": {"batch-wait": "1ms"},
        "orchestrator": {"retention": "1w"},
        "outlet": {
            "http": {"listen": "[::1]:0"},
            "enrichment": {"query-timeout": "200ms", "initial-delay": "1m", "queue": "q"},
        },
        "enrich": {"queue": "q"},
    }
    result = check(tmp_path, yaml.safe_dump(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(": ok")


@pytest.mark.parametrize(
    "content",
    [
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00",  # a binary
        "inlet:\n  batch-wait: 1ms  # réglé\n".encode("latin-1"),  # not UTF-8
        b"inlet: {}\n\x00\x01\x02",  # UTF-8 but control characters
    ],
)
def test_a_file_that_is_not_yaml_text_is_one_line(tmp_path, content):
    lines = problems(check(tmp_path, content))
    assert len(lines) == 1, lines
    assert "not a text file" in lines[0] or "cannot appear in YAML" in lines[0], lines[0]


def test_yaml_syntax_error_is_one_line(tmp_path):
    lines = problems(check(tmp_path, "inlet:\n  inputs: [unclosed\n"))
    assert len(lines) == 1 and "not valid YAML: line 3, column 1" in lines[0], lines


def test_secrets_never_appear_in_errors_or_dump(tmp_path):
    bad = {"redis": {"url": "redis://:s3cret@h:abc/0"}, "clickhouse": {"password": 1234}}
    result = check(tmp_path, yaml.safe_dump(bad))
    lines = problems(result)
    assert "s3cret" not in result.stderr and "1234" not in result.stderr
    assert any("redis://:***@h:abc/0" in line for line in lines), lines
    good = {"redis": {"url": "redis://:s3cret@h:6379/0"}, "clickhouse": {"password": "s3cret"}}
    dumped = check(tmp_path, yaml.safe_dump(good), action="dump")
    assert dumped.returncode == 0, dumped.stderr
    assert "s3cret" not in dumped.stdout and "redis://:***@h:6379/0" in dumped.stdout
