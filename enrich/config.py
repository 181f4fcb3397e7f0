"""Enrichment configuration (extended by the enrichment workers)."""

from __future__ import annotations

from pydantic import Field

from collector.config.model import ConfigModel
from collector.config.shared import HTTPConfig


class EnrichConfig(ConfigModel):
    http: HTTPConfig = Field(default_factory=lambda: HTTPConfig(listen="127.0.0.1:8083"))
