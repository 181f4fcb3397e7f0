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


def parse_hostport(value: str, default_port: int) -> tuple[str, int]:
    """`host:port`, `[v6]:port`, `:port` or `host` into (host, port)."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.lstrip(":")
    elif value.count(":") == 1:
        host, port = value.split(":")
    elif value.count(":") > 1:  # bare IPv6 address
        host, port = value, ""
    else:
        host, port = value, ""
    port_n = int(port) if port else default_port
    if not 0 <= port_n <= 65535:
        raise ValueError(f"port {port_n} out of range 0-65535")
    return host, port_n
