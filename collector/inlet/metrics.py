"""Inlet metrics. Workers count in plain integers and ship snapshots to the parent."""

from __future__ import annotations

from collector.metrics.stats import MetricDef, MetricSet

P = "flowweir_inlet_"

INLET_METRICS = MetricSet(
    MetricDef(P + "udp_datagrams", "Datagrams received.", "counter", ("listener", "worker")),
    MetricDef(
        P + "udp_bytes", "Datagram payload bytes received.", "counter", ("listener", "worker")
    ),
    MetricDef(
        P + "udp_drops",
        "Datagrams lost, by reason: kernel (socket buffer overflow, SO_RXQ_OVFL), "
        "queue_full (Kafka producer queue), too_large (over max-datagram-size), "
        "not_allowed (source outside inlet.exporters).",
        "counter",
        ("listener", "worker", "reason"),
    ),
    MetricDef(
        P + "udp_receive_calls",
        "recvmmsg calls that returned datagrams (datagrams / calls: the batching achieved).",
        "counter",
        ("listener", "worker"),
    ),
    MetricDef(
        P + "udp_exporter_datagrams",
        "Datagrams received per exporter.",
        "counter",
        ("listener", "exporter"),
    ),
    MetricDef(
        P + "udp_receive_buffer_bytes",
        "SO_RCVBUF the kernel granted.",
        "gauge",
        ("listener", "worker"),
    ),
    MetricDef(
        P + "udp_kernel_timestamps",
        "1 when receive times come from the kernel.",
        "gauge",
        ("listener", "worker"),
    ),
    MetricDef(
        P + "ebpf_loaded",
        "1 when the round-robin eBPF program is attached.",
        "gauge",
        ("listener",),
    ),
    MetricDef(P + "workers_running", "Worker processes alive.", "gauge", ("listener",)),
    MetricDef(
        P + "workers_restarts", "Worker processes restarted after dying.", "counter", ("listener",)
    ),
    MetricDef(
        P + "kafka_enqueued_messages",
        "Envelopes handed to the Kafka producer.",
        "counter",
        ("worker",),
    ),
    MetricDef(
        P + "kafka_queue_messages", "Envelopes waiting in the producer queue.", "gauge", ("worker",)
    ),
    MetricDef(
        P + "kafka_queue_capacity_messages", "Size of the producer queue.", "gauge", ("worker",)
    ),
    MetricDef(
        P + "kafka_delivery_errors", "Envelopes Kafka did not accept.", "counter", ("worker",)
    ),
)
