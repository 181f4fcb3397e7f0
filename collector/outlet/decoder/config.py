"""Decoder configuration: decapsulation, and the bounds that keep hostile input cheap."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from collector.config.model import ConfigModel
from collector.config.types import Duration

Decapsulation = Literal["none", "vxlan", "gre", "ipip", "srv6"]


class DecoderConfig(ConfigModel):
    # Default decapsulation of datagrams that do not say (the inlet input's `decapsulation`
    # arrives with envelope v2): flows report the inner packet, plain packets are dropped.
    decapsulation: Decapsulation = "none"
    # Data flowsets whose template is not known yet are kept, per exporter, within these bounds.
    pending_max_flowsets: int = Field(default=512, ge=0)
    pending_max_bytes: int = Field(default=2 * 1024 * 1024, ge=0)
    pending_max_age: Duration = Field(default=60.0, gt=0)
    # A template asked of the store and not found is not asked again for this long.
    template_miss_retry: Duration = 10.0
    # Per-exporter and per-outlet state bounds: past them the oldest is evicted (counted).
    max_templates_per_exporter: int = Field(default=2048, ge=1)
    max_samplers_per_exporter: int = Field(default=1024, ge=1)
    max_exporters: int = Field(default=10_000, ge=1)
    # Templates of more fields, or of more zero-length fields, are refused (bad_template).
    max_template_fields: int = Field(default=512, ge=1)
    max_zero_length_fields: int = Field(default=16, ge=0)
    # Exporters with their own metric series; the others are counted as exporter="other".
    max_exporter_series: int = Field(default=1000, ge=1)
    # Redis template and sampling keys expire this long after their exporter's last template.
    template_store_ttl: Duration = Field(default=7 * 86400.0, gt=0)
