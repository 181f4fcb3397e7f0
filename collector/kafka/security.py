"""TLS and SASL towards Kafka: `kafka.tls` and `kafka.sasl`, and their translation into the
settings of both clients (librdkafka for confluent-kafka, keyword arguments for kafka-python-ng).

```yaml
kafka:
  brokers: ["kafka1:9093"]
  tls:
    enable: true
    ca-file: /etc/flowweir/kafka-ca.pem   # empty: the system's CA store
    cert-file: /etc/flowweir/client.pem   # client certificate (mutual TLS), optional
    key-file: /etc/flowweir/client.key
    verify: true                          # check the broker's certificate and name
  sasl:
    mechanism: scram-sha-512              # none, plain, scram-sha-256, scram-sha-512
    username: flowweir
    password: "..."                       # never shown by `config dump` or in logs
```

Every Kafka client flowweir makes goes through `librdkafka_settings()` or
`kafka_python_settings()`: the inlet's producer (either client), the outlet's consumer and the
admin clients of the outlet and the orchestrator (confluent-kafka). `kafka.options` still
passes anything else through and wins over what is set here.
"""

from __future__ import annotations

import logging
import re
import ssl
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr, model_validator

from collector.config.model import ConfigModel

if TYPE_CHECKING:
    from collector.config.shared import KafkaConfig

SASLMechanism = Literal["none", "plain", "scram-sha-256", "scram-sha-512"]


class KafkaTLS(ConfigModel):
    enable: bool = False
    # CA certificates (PEM) that sign the brokers' certificates; empty: the system's store.
    ca_file: str = ""
    # Client certificate and key (PEM) when the brokers require mutual TLS.
    cert_file: str = ""
    key_file: str = ""
    key_password: SecretStr = SecretStr("")
    # Check the broker's certificate chain and that it names the broker (turn off only to test).
    verify: bool = True

    @model_validator(mode="after")
    def _pair(self) -> KafkaTLS:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert-file and key-file go together (mutual TLS needs both)")
        return self


class KafkaSASL(ConfigModel):
    mechanism: SASLMechanism = "none"
    username: str = ""
    password: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _credentials(self) -> KafkaSASL:
        if self.mechanism != "none" and not (self.username and self.password.get_secret_value()):
            raise ValueError(f"mechanism {self.mechanism} needs a username and a password")
        return self


def protocol(tls: KafkaTLS, sasl: KafkaSASL) -> str:
    """Kafka's security.protocol for these settings."""
    if sasl.mechanism != "none":
        return "SASL_SSL" if tls.enable else "SASL_PLAINTEXT"
    return "SSL" if tls.enable else "PLAINTEXT"


class RdkafkaLogger:
    """librdkafka's own log lines (one per reconnection attempt) go to debug; the error
    callback logs one clear line per kind of problem instead (`describe_error`)."""

    def __init__(self, name: str = "collector.kafka.rdkafka") -> None:
        self.logger = logging.getLogger(name)

    def log(self, level: int, fmt: str, *args: Any) -> None:
        self.logger.debug(fmt, *args)


_AFTER = re.compile(r"\s*\(after \d+ms in state \w+\)|\s*\(\d+ identical error\(s\) suppressed\)")


def describe_error(err: Any) -> tuple[str, str]:
    """(kind, one line naming the problem and the setting to fix) for a librdkafka error."""
    from confluent_kafka import KafkaError

    code = err.code() if hasattr(err, "code") else None
    text = _AFTER.sub("", err.str() if hasattr(err, "str") else str(err))
    # librdkafka reports the same failure again as a transport error on later attempts.
    if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED) or (
        code == KafkaError._TRANSPORT and "SASL" in text
    ):
        return "auth", f"Kafka refused to authenticate us: {text} (check kafka.sasl)"
    if code == KafkaError._SSL or (code == KafkaError._TRANSPORT and "SSL" in text):
        return "tls", f"TLS with Kafka failed: {text} (check kafka.tls)"
    if code == KafkaError._ALL_BROKERS_DOWN:
        return "all-down", f"Kafka unreachable: {text} (check kafka.brokers, kafka.tls, kafka.sasl)"
    if code == KafkaError._TRANSPORT:
        return "transport", f"Kafka unreachable: {text} (check kafka.brokers, kafka.tls)"
    return f"code-{code}", f"Kafka client error: {text} (check kafka.brokers)"


def librdkafka_settings(cfg: KafkaConfig, quiet: bool = True) -> dict[str, Any]:
    """bootstrap.servers and the security settings of a confluent-kafka client, then
    `kafka.options` (which win). `quiet`: librdkafka's own log lines go to debug
    (`RdkafkaLogger`), for clients whose error callback is served (producer, consumer); an
    admin client serves neither during its calls, so there librdkafka's lines are the cause."""
    tls, sasl = cfg.tls, cfg.sasl
    out: dict[str, Any] = {
        "bootstrap.servers": ",".join(cfg.brokers),
        "security.protocol": protocol(tls, sasl),
    }
    if quiet:
        out["logger"] = RdkafkaLogger()
    if tls.enable:
        if tls.ca_file:
            out["ssl.ca.location"] = tls.ca_file
        if tls.cert_file:
            out["ssl.certificate.location"] = tls.cert_file
            out["ssl.key.location"] = tls.key_file
        if tls.key_password.get_secret_value():
            out["ssl.key.password"] = tls.key_password.get_secret_value()
        out["enable.ssl.certificate.verification"] = tls.verify
        out["ssl.endpoint.identification.algorithm"] = "https" if tls.verify else "none"
    if sasl.mechanism != "none":
        out["sasl.mechanism"] = sasl.mechanism.upper()
        out["sasl.username"] = sasl.username
        out["sasl.password"] = sasl.password.get_secret_value()
    out.update(cfg.options)
    return out


def tls_context(tls: KafkaTLS) -> ssl.SSLContext:
    """The client side of TLS for kafka-python-ng (which takes an SSLContext)."""
    context = ssl.create_default_context(cafile=tls.ca_file or None)
    if tls.cert_file:
        context.load_cert_chain(
            tls.cert_file, tls.key_file, tls.key_password.get_secret_value() or None
        )
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def kafka_python_settings(cfg: KafkaConfig) -> dict[str, Any]:
    """bootstrap_servers and the security keyword arguments of a kafka-python-ng client, then
    `kafka.options` with dots turned into underscores (which win)."""
    tls, sasl = cfg.tls, cfg.sasl
    out: dict[str, Any] = {
        "bootstrap_servers": list(cfg.brokers),
        "security_protocol": protocol(tls, sasl),
    }
    if tls.enable:
        out["ssl_context"] = tls_context(tls)
    if sasl.mechanism != "none":
        out["sasl_mechanism"] = sasl.mechanism.upper()
        out["sasl_plain_username"] = sasl.username
        out["sasl_plain_password"] = sasl.password.get_secret_value()
    out.update({k.replace(".", "_"): v for k, v in cfg.options.items()})
    return out
