"""The outlet's decoder: feed envelopes, flush a columnar batch."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from collector.kafka.envelope import (
    DecoderKind,
    Envelope,
    TimestampSource,
    address_to_bytes,
)
from collector.metrics.stats import Stats
from collector.outlet.decoder import metrics as m
from collector.outlet.decoder.batch import FlowBatch
from collector.outlet.decoder.config import DecoderConfig
from collector.outlet.decoder.counters import Counters
from collector.outlet.decoder.netflow import NetflowDecoder
from collector.outlet.decoder.sflow import SflowDecoder
from collector.outlet.decoder.templates import MemoryTemplateStore, TemplateStore

log = logging.getLogger(__name__)


class Decoder:
    """Decodes NetFlow v5/v9, IPFIX and sFlow v5 envelopes into `FlowBatch`es.

    `feed()` only queues the envelope; `flush()` walks the queued datagrams in order
    (templates and options take effect for what follows them) and decodes all records of
    each template, and all sFlow samples, in vectorised passes. Malformed input is counted
    under `flowweir_outlet_decoder_errors` and never raises.
    """

    def __init__(
        self,
        stats: Stats | None = None,
        store: TemplateStore | None = None,
        config: DecoderConfig | None = None,
    ) -> None:
        self.stats = stats if stats is not None else Stats(m.METRICS)
        self.store: TemplateStore = store if store is not None else MemoryTemplateStore()
        self.config = config or DecoderConfig()
        self.counters = Counters()
        self.netflow = NetflowDecoder(self.counters, self.stats, self.store, self.config)
        self.sflow = SflowDecoder(self.counters)
        self._queue: list[Envelope] = []

    def feed(self, envelope: Envelope) -> None:
        """Queue one envelope (cheap); decoded at the next `flush()`."""
        self._queue.append(envelope)

    def flush(self) -> FlowBatch:
        """Decode everything fed since the last flush."""
        queue, self._queue = self._queue, []
        nf_walk, sf_walk = self.netflow.walk, self.sflow.walk
        latest = 0
        for env in queue:
            try:
                if env.kind == DecoderKind.NETFLOW:
                    nf_walk(env, env.exporter_address)
                else:
                    sf_walk(env, env.exporter_address)
            except Exception:  # a decoder bug must not stop the outlet: count and go on
                log.exception("decoding a datagram from %s failed", env.exporter)
                self.counters.error(env.exporter_address, m.BAD_LENGTH)
            if env.receive_time_ns > latest:
                latest = env.receive_time_ns
        if self.netflow.pending:
            if latest:
                self.netflow.expire(latest)
            self.netflow.retry_pending()
        try:
            chunks = self.netflow.build() + self.sflow.build()
        except Exception:  # never past this boundary: lose this batch, not the outlet
            log.exception("decoding a batch of %d datagrams failed", len(queue))
            self.counters.error(b"\0" * 16, m.BAD_LENGTH)
            self.netflow.groups.clear()
            self.sflow._reset()
            chunks = []
        self.counters.fold(self.stats)
        self.stats.set(m.PENDING_FLOWSETS, (), self.netflow.pending_count())
        return FlowBatch.from_chunks(chunks)

    def pending(self) -> int:
        """Data sets kept because their template has not been seen yet."""
        return self.netflow.pending_count()

    def decode(self, envelopes: Iterable[Envelope]) -> FlowBatch:
        for env in envelopes:
            self.feed(env)
        return self.flush()


def sniff_kind(payload: bytes) -> DecoderKind | None:
    """Which decoder a raw datagram is for (by its version field), or None."""
    if len(payload) >= 4 and payload[:4] == b"\0\0\0\x05":
        return DecoderKind.SFLOW
    if len(payload) >= 2 and payload[0] == 0 and payload[1] in (5, 9, 10):
        return DecoderKind.NETFLOW
    return None


def make_envelope(
    payload: bytes,
    exporter: str | bytes = "192.0.2.1",
    receive_time_ns: int | None = None,
    kind: DecoderKind | None = None,
    flags: int = 0,
    timestamp_source: TimestampSource = TimestampSource.UDP,
    port: int = 0,
) -> Envelope:
    """An envelope as the inlet would have written it (for tools and tests)."""
    addr = exporter if isinstance(exporter, bytes) else address_to_bytes(exporter)
    kind = kind or sniff_kind(payload) or DecoderKind.NETFLOW
    recv = time.time_ns() if receive_time_ns is None else receive_time_ns
    return Envelope(kind, recv, addr, port, payload, flags, timestamp_source)


def decode_datagrams(
    datagrams: Iterable[bytes | tuple[bytes, str | bytes]],
    exporter: str | bytes = "192.0.2.1",
    decoder: Decoder | None = None,
    receive_time_ns: int | None = None,
    timestamp_source: TimestampSource = TimestampSource.UDP,
) -> FlowBatch:
    """Decode raw datagrams (or (datagram, exporter) pairs) in order with one decoder."""
    decoder = decoder or Decoder()
    for item in datagrams:
        payload, exp = item if isinstance(item, tuple) else (item, exporter)
        decoder.feed(
            make_envelope(payload, exp, receive_time_ns, timestamp_source=timestamp_source)
        )
    return decoder.flush()
