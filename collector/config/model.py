"""Base model for every configuration section: kebab-case keys, unknown keys refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


def kebab(name: str) -> str:
    return name.replace("_", "-")


class ConfigModel(BaseModel):
    """YAML keys are kebab-case (`receive-buffer`); Python attributes are snake_case."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=kebab,
        populate_by_name=True,
        validate_default=True,
        frozen=False,
    )
