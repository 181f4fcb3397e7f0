"""Orchestrator configuration (extended by the orchestrator)."""

from __future__ import annotations

from pydantic import Field

from collector.config.model import ConfigModel
from collector.config.shared import HTTPConfig


class OrchestratorConfig(ConfigModel):
    http: HTTPConfig = Field(default_factory=lambda: HTTPConfig(listen="127.0.0.1:8082"))
