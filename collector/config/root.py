"""The whole configuration file: one section per service plus shared sections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import yaml
from pydantic import BaseModel, Field, Secret, SecretStr, ValidationError

from collector.config.model import ConfigModel
from collector.config.shared import ClickHouseConfig, KafkaConfig, RedisConfig
from collector.demoexporter.config import DemoExporterConfig
from collector.inlet.config import InletConfig
from collector.orchestrator.config import OrchestratorConfig
from collector.outlet.config import OutletConfig
from enrich.config import EnrichConfig


class Config(ConfigModel):
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    clickhouse: ClickHouseConfig = Field(default_factory=ClickHouseConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    inlet: InletConfig = Field(default_factory=InletConfig)
    outlet: OutletConfig = Field(default_factory=OutletConfig)
    orchestrator: OrchestratorConfig = Field(default_factory=OrchestratorConfig)
    enrich: EnrichConfig = Field(default_factory=EnrichConfig)
    demo_exporter: DemoExporterConfig = Field(default_factory=DemoExporterConfig)


class ConfigError(Exception):
    """A configuration the user must fix; str() is the message to show, one problem a line."""


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that holds the key at `loc` (used to list the allowed keys)."""
    current: Any = model
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next(
            (f for n, f in current.model_fields.items() if part in (n, f.alias)),
            None,
        )
        if field is None:
            return None
        current = field.annotation
        while get_origin(current) is not None:  # list[X], dict[str, X], X | None, Annotated
            origin = get_origin(current)
            if origin is Annotated:
                current = get_args(current)[0]
                continue
            if origin in (list, dict) and parts:
                parts.pop(0)  # the index or the key
            args = [a for a in get_args(current) if a is not type(None)]
            current = args[-1] if args else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _is_secret(model: type[BaseModel], loc: tuple[Any, ...]) -> bool:
    """True when the key at `loc` holds a secret (its value is never shown)."""
    parent = _model_at(model, loc[:-1])
    field = (
        next((f for n, f in parent.model_fields.items() if loc[-1] in (n, f.alias)), None)
        if parent and loc
        else None
    )
    kind = field.annotation if field else None
    return isinstance(kind, type) and issubclass(kind, Secret | SecretStr)


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def format_validation_error(exc: ValidationError, model: type[BaseModel] = Config) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = _format_loc(loc)
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            allowed = (
                ", ".join(sorted(f.alias or n for n, f in parent.model_fields.items()))
                if parent
                else "see `flowweir config dump`"
            )
            lines.append(f"{where}: unknown key; allowed here: {allowed}")
        else:
            got = err.get("input")
            hidden = isinstance(got, dict | list) or _is_secret(model, loc)
            shown = "" if hidden else f" (got {got!r})"
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {msg}{shown}")
    return "\n".join(lines)


def parse_config(data: Any) -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping of sections (kafka, inlet, ...)")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def read_yaml(path: str | Path) -> Any:
    """The YAML document in the file at `path`; a ConfigError of one line when it is not one."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file (byte {exc.object[exc.start]:#04x} at offset {exc.start} "
            "is not UTF-8): give the YAML configuration file"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None


def load_config(path: str | Path) -> Config:
    data = read_yaml(path)
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError("\n".join(f"{path}: {line}" for line in str(exc).splitlines())) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what is wrong and where (PyYAML's own text spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if isinstance(exc, yaml.reader.ReaderError):  # a control character, e.g. a binary file
        return f"character {exc.character!r} at offset {exc.position} cannot appear in YAML"
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return " ".join(f"{where}{problem}".split())


def dump_config(config: Config) -> str:
    """The effective configuration, defaults included, as YAML with the file's key names."""
    data = json.loads(config.model_dump_json(by_alias=True))
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
