"""Outlet configuration (extended by the outlet pipeline)."""

from __future__ import annotations

from pydantic import Field

from collector.config.model import ConfigModel
from collector.config.shared import HTTPConfig


class OutletConfig(ConfigModel):
    http: HTTPConfig = Field(default_factory=lambda: HTTPConfig(listen="127.0.0.1:8081"))
