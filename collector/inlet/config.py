"""Inlet configuration: UDP listeners and how datagrams are handed to Kafka."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from collector.config.model import ConfigModel
from collector.config.shared import HTTPConfig
from collector.config.types import Duration, ListenAddress, SubnetList, parse_hostport
from collector.inlet.allowlist import EVERYTHING

DEFAULT_PORTS = {"netflow": 2055, "sflow": 6343}


class InputConfig(ConfigModel):
    """One UDP listener: several worker processes share its port with SO_REUSEPORT."""

    decoder: Literal["netflow", "sflow"] = "netflow"
    # Address and port to bind; the port defaults to 2055 (netflow) or 6343 (sflow).
    listen: ListenAddress = ""
    workers: int = Field(1, ge=1, le=256)
    # Requested SO_RCVBUF in bytes; the kernel doubles it and caps it at net.core.rmem_max
    # unless SO_RCVBUFFORCE is permitted (root/CAP_NET_ADMIN).
    receive_buffer: int = Field(32 * 1024 * 1024, ge=4096)
    # sFlow: use the datagram's source address rather than the agent address as exporter.
    use_src_addr_for_exporter_addr: bool = False
    timestamp_source: Literal["udp", "netflow-packet", "netflow-first-switched"] = "udp"
    # Encapsulation the outlet's decoder strips from sampled packets (carried in each
    # Kafka message, envelope v2 byte 4). Outlets that do not decapsulate ignore it.
    decapsulation: Literal["none", "vxlan", "gre", "ipip", "srv6"] = "none"

    @model_validator(mode="after")
    def _default_listen(self) -> InputConfig:
        if not self.listen:
            self.listen = f"0.0.0.0:{DEFAULT_PORTS[self.decoder]}"
        return self

    @property
    def address(self) -> tuple[str, int]:
        return parse_hostport(self.listen, DEFAULT_PORTS[self.decoder])


def _default_inputs() -> list[InputConfig]:
    return [InputConfig(decoder="netflow"), InputConfig(decoder="sflow")]


class InletHTTPConfig(HTTPConfig):
    # SO_REUSEPORT on the operations socket, so that a second inlet can bind the same port
    # during a handover (README, "Restarting an inlet"). Off: no other process can share it.
    reuse_port: bool = False


class InletConfig(ConfigModel):
    http: InletHTTPConfig = Field(default_factory=lambda: InletHTTPConfig(listen="127.0.0.1:8080"))
    inputs: list[InputConfig] = Field(default_factory=_default_inputs, min_length=1)
    # Datagram sources accepted (subnets); others are dropped and counted (reason not_allowed).
    exporters: SubnetList = Field(default_factory=lambda: list(EVERYTHING), min_length=1)
    # Load bpf/reuseport_kern.c to spread datagrams round-robin over the workers of a listener.
    ebpf: bool = True
    # Kafka key: the exporter address keeps an exporter on one partition (templates stay
    # together); random spreads one huge exporter over all partitions.
    kafka_key: Literal["exporter", "random"] = "exporter"
    # Kafka messages the producer may hold before datagrams are dropped (bounds memory). A
    # message holds the datagrams of one exporter from one receive call (envelope v2).
    queue_size: int = Field(100_000, ge=100, le=10_000_000)
    # Bytes the producer may hold (librdkafka queue.buffering.max.kbytes * 1024). With Kafka
    # stalled, a worker's resident memory is about 60 MB + 1.5 x this (bench/inlet/README):
    # the default keeps a worker under 80 MB; the socket's receive buffer absorbs the rest.
    queue_bytes: int = Field(6 * 1024 * 1024, ge=1024 * 1024)
    # How long a worker may wait, per receive, for room in a full producer queue before it
    # drops datagrams (counted as queue_full). Meanwhile datagrams wait in the socket's
    # receive buffer, so a Kafka hiccup shorter than this loses nothing. 0: drop at once.
    queue_full_wait: Duration = Field(0.1, le=5)
    # With kafka.compression lz4, the worker compresses each Kafka message's datagrams
    # itself (one LZ4 frame, envelope v2 flag bit 2) and sends it with the Kafka codec none:
    # cheaper than the Kafka client's LZ4, whose speed cannot be raised. LZ4's acceleration:
    # 1 is LZ4's default (the ratio of Kafka's codec), higher is faster and compresses a
    # little less (bench/README.md, "## inlet"). 0: leave LZ4 to the Kafka client's codec
    # (for consumers of the topic other than flowweir outlets of this version or later).
    lz4_acceleration: int = Field(5, ge=0, le=65537)
    # Largest datagram accepted; larger ones are counted as too large and dropped.
    max_datagram_size: int = Field(9216, ge=512, le=65535)
    # How long SIGTERM waits for the sockets to drain and the producer to flush.
    shutdown_timeout: Duration = Field(5.0, gt=0, le=120)
    # How long a worker sleeps after a receive that did not fill its batch (64 datagrams: the
    # socket is empty), so that the next receive takes a larger batch: fewer wake-ups and
    # receive calls per datagram for the worker and for the Kafka client. Adds at most this
    # much latency; 0: never sleep. Needs 4 MiB of real receive buffer per ms (a burst could
    # fill it): shortened to what the buffer allows, skipped under 4 MiB.
    batch_wait: Duration = Field(0.005, le=0.05)

    @field_validator("inputs")
    @classmethod
    def _distinct_listens(cls, v: list[InputConfig]) -> list[InputConfig]:
        seen: set[tuple[str, int]] = set()
        for item in v:
            if item.address in seen:
                raise ValueError(f"two inputs listen on {item.listen}")
            seen.add(item.address)
        return v
