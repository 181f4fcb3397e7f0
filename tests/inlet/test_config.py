"""Configuration: defaults an operator expects, and clear refusals."""

from __future__ import annotations

import subprocess
import sys

import pytest

from collector.config.root import ConfigError, load_config, parse_config


def flowweir(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_defaults_listen_on_the_standard_ports():
    cfg = parse_config({})
    assert [(i.decoder, i.address) for i in cfg.inlet.inputs] == [
        ("netflow", ("0.0.0.0", 2055)),
        ("sflow", ("0.0.0.0", 6343)),
    ]
    assert cfg.kafka.compression == "lz4" and cfg.inlet.kafka_key == "exporter"


def test_sflow_input_without_listen_gets_6343():
    cfg = parse_config({"inlet": {"inputs": [{"decoder": "sflow", "workers": 4}]}})
    assert cfg.inlet.inputs[0].listen == "0.0.0.0:6343"


def test_unknown_key_is_named_with_the_allowed_ones(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inlet:\n  inputs:\n    - decoder: netflow\n      recieve-buffer: 1000\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert "inlet.inputs[0].recieve-buffer: unknown key" in msg
    assert "receive-buffer" in msg  # the fix is in the message


def test_bad_value_names_the_key_and_the_allowed_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("kafka:\n  client: librdkafka\n")
    result = flowweir("config", "check", str(path))
    assert result.returncode == 1
    assert (
        "kafka.client: Input should be 'confluent-kafka' or 'kafka-python-ng' (got 'librdkafka')"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_two_inputs_on_one_port_are_refused():
    with pytest.raises(ConfigError, match="two inputs listen on"):
        parse_config(
            {"inlet": {"inputs": [{"listen": ":2055"}, {"listen": ":2055", "decoder": "sflow"}]}}
        )


def test_check_and_dump_cli(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "inlet:\n  inputs:\n    - {decoder: netflow, listen: '127.0.0.1:9995', workers: 3}\n"
    )
    assert flowweir("config", "check", str(path)).returncode == 0
    dumped = flowweir("config", "dump", str(path))
    assert dumped.returncode == 0
    assert "workers: 3" in dumped.stdout and "receive-buffer: 33554432" in dumped.stdout
    # the dump is itself a valid configuration
    again = tmp_path / "again.yaml"
    again.write_text(dumped.stdout)
    assert load_config(again) == load_config(path)


def test_missing_file_and_bad_yaml_are_one_line_errors(tmp_path):
    assert "cannot read" in flowweir("config", "check", str(tmp_path / "nope.yaml")).stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("inlet: [unclosed\n")
    out = flowweir("config", "check", str(bad))
    assert out.returncode == 1 and "not valid YAML" in out.stderr
