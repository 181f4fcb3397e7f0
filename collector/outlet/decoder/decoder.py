"""The outlet's decoder: feed envelopes, flush a columnar batch."""

from __future__ import annotations

import ctypes
import gc
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

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
from collector.outlet.decoder.counters import LOG_INTERVAL, Counters
from collector.outlet.decoder.headers import decap_mode
from collector.outlet.decoder.netflow import NetflowDecoder
from collector.outlet.decoder.sflow import SflowDecoder
from collector.outlet.decoder.templates import MemoryTemplateStore, TemplateStore

log = logging.getLogger(__name__)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_tuned = False


def tune_allocator() -> None:
    """Keep the flush's MB-sized buffers in the heap (glibc, once per process).

    glibc hands every allocation above its mmap threshold (128 KiB, raised only by what was
    freed before) straight to the kernel and back on free, so each flush pays page faults
    again for its joined datagrams and column arrays: NetFlow decoding ran at half speed or
    full speed depending on what the process had freed earlier. A fixed 32 MiB threshold
    (and 64 MiB of free heap kept) makes it the same every time. No-op elsewhere.
    """
    global _tuned
    if _tuned:
        return
    _tuned = True
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)
    except (OSError, AttributeError):  # not glibc
        pass
    # What the process holds by now (modules, NumPy, configuration) lives as long as the
    # process: out of the collector's sight, a full collection no longer walks it, which
    # was tens of ms for whichever datagram happened to trigger one.
    gc.freeze()


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
        tune_allocator()
        self.stats = stats if stats is not None else Stats(m.METRICS)
        self.store: TemplateStore = store if store is not None else MemoryTemplateStore()
        self.config = config or DecoderConfig()
        self.counters = Counters(self.config.max_exporter_series)
        self.netflow = NetflowDecoder(self.counters, self.stats, self.store, self.config)
        self.sflow = SflowDecoder(self.counters)
        self.decapsulation = decap_mode(self.config.decapsulation)
        self._queue: list[Envelope] = []
        self._modes: dict[int, int] = {}  # queue index -> decapsulation, where not the default
        self._tokens: list[Any] = []  # one per queued envelope, when given
        self._last_bug = 0.0

    def feed(
        self, envelope: Envelope, decapsulation: str | int | None = None, token: Any = None
    ) -> None:
        """Queue one envelope (cheap); decoded at the next `flush()`.

        `decapsulation` (`none|vxlan|gre|ipip|srv6`, default the config's) is per datagram:
        the inlet input's setting arrives with envelope v2. `token` is where the record came
        from, `(partition, offset)`: see `held()`."""
        queue = self._queue
        if decapsulation is not None:
            self._modes[len(queue)] = decap_mode(decapsulation)
        if token is not None or self._tokens:
            self._tokens.extend([None] * (len(queue) - len(self._tokens)))
            self._tokens.append(token)
        queue.append(envelope)

    def flush(self) -> FlowBatch:
        """Decode everything fed since the last flush."""
        queue, self._queue = self._queue, []
        modes, tokens = self._modes, self._tokens
        self._modes, self._tokens = {}, []
        netflow = self.netflow
        sf_walk = self.sflow.walk
        kind_netflow = DecoderKind.NETFLOW
        default = self.decapsulation
        plain = not modes and not tokens
        kinds = [env.kind for env in queue]
        if kinds.count(kind_netflow) == len(queue):
            nf = list(range(len(queue)))
        else:
            nf = [i for i, kind in enumerate(kinds) if kind == kind_netflow]
            for i, env in enumerate(queue):
                if kinds[i] == kind_netflow:
                    continue
                self._guarded(sf_walk, env, default if plain else modes.get(i, default))
        if nf:
            envs = queue if len(nf) == len(queue) else [queue[i] for i in nf]

            def walk_one(j: int) -> None:  # the Python walk of one datagram
                i = nf[j]
                env = envs[j]
                if tokens:
                    netflow.token = tokens[i] if i < len(tokens) else None
                self._guarded(netflow.walk, env, default if plain else modes.get(i, default))

            decaps = default if not modes else [modes.get(i, default) for i in nf]
            try:
                netflow.walk_many(envs, decaps, walk_one)
            except Exception:
                self._bug("walking a batch of %d datagrams failed", len(envs))
                self.counters.error(b"\0" * 16, m.INTERNAL)
        netflow.token = None
        if netflow.pending:
            latest = max((env.receive_time_ns for env in queue), default=0)
            if latest:
                netflow.expire(latest)
            netflow.retry_pending()
        try:
            chunks = netflow.build() + self.sflow.build()
        except Exception:  # never past this boundary: lose this batch, not the outlet
            self._bug("decoding a batch of %d datagrams failed", len(queue))
            self.counters.error(b"\0" * 16, m.INTERNAL)
            netflow.groups.clear()
            self.sflow._reset()
            chunks = []
        netflow.sync_store()
        self.counters.fold(self.stats)
        self.stats.set(m.PENDING_FLOWSETS, (), self.netflow.pending_count())
        return FlowBatch.from_chunks(chunks)

    def pending(self) -> int:
        """Data sets kept because their template has not been seen yet."""
        return self.netflow.pending_count()

    def held(self) -> dict[Any, int]:
        """Per partition, the first offset whose data still waits for its template: a consumer
        commits no further, so that a crash does not lose it (it is read again)."""
        return self.netflow.held()

    def _guarded(
        self, walk: Callable[[Envelope, bytes, int], None], env: Envelope, mode: int
    ) -> None:
        """One datagram's walk; a decoder bug must not stop the outlet: count and go on."""
        try:
            walk(env, env.exporter_address, mode)
        except Exception:
            self._bug("decoding a datagram from %s failed", env.exporter)
            self.counters.error(env.exporter_address, m.INTERNAL)

    def _bug(self, message: str, *args: Any) -> None:
        """A decoder bug: the traceback at most once per LOG_INTERVAL, counted always."""
        now = time.monotonic()
        if now - self._last_bug >= LOG_INTERVAL or not self._last_bug:
            self._last_bug = now
            log.exception(message + " (a decoder bug; counted as kind=internal)", *args)

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
    decapsulation: str | None = None,
) -> FlowBatch:
    """Decode raw datagrams (or (datagram, exporter) pairs) in order with one decoder."""
    decoder = decoder or Decoder()
    for item in datagrams:
        payload, exp = item if isinstance(item, tuple) else (item, exporter)
        decoder.feed(
            make_envelope(payload, exp, receive_time_ns, timestamp_source=timestamp_source),
            decapsulation,
        )
    return decoder.flush()
