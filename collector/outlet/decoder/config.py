"""Decoder configuration: bounds of the data-before-template buffer."""

from __future__ import annotations

from pydantic import Field

from collector.config.model import ConfigModel
from collector.config.types import Duration


class DecoderConfig(ConfigModel):
    # Data flowsets whose template is not known yet are kept, per exporter, within these bounds.
    pending_max_flowsets: int = Field(default=512, ge=0)
    pending_max_bytes: int = Field(default=2 * 1024 * 1024, ge=0)
    pending_max_age: Duration = Field(default=60.0, gt=0)
