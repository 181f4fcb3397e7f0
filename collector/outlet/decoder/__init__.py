"""NetFlow v5/v9, IPFIX and sFlow v5 decoders producing columnar flow batches.

decoder = Decoder(stats, store=RedisTemplateStore.from_url(url))
for record in kafka_records:
    decoder.feed(decode_envelope(record))
batch = decoder.flush()   # FlowBatch: batch.columns[name] for name in DECODER_COLUMNS
"""

from collector.outlet.decoder.batch import FlowBatch
from collector.outlet.decoder.config import DecoderConfig
from collector.outlet.decoder.decoder import Decoder, decode_datagrams, make_envelope, sniff_kind
from collector.outlet.decoder.metrics import METRICS
from collector.outlet.decoder.templates import (
    MemoryTemplateStore,
    RedisTemplateStore,
    Template,
    TemplateStore,
)

__all__ = [
    "METRICS",
    "Decoder",
    "DecoderConfig",
    "FlowBatch",
    "MemoryTemplateStore",
    "RedisTemplateStore",
    "Template",
    "TemplateStore",
    "decode_datagrams",
    "make_envelope",
    "sniff_kind",
]
