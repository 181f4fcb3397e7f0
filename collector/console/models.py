"""Request and response models of the console API (the OpenAPI document is built from them)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.console.dimensions import DIMENSIONS_LOWER

Unit = Literal["l3bps", "l2bps", "pps", "inl2%", "outl2%"]
LimitType = Literal["avg", "max", "last", "p95"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GraphRequest(_Request):
    """What to draw: a time range, dimensions and their top-N, a filter, a unit."""

    start: dt.datetime = Field(description="start of the range (ISO 8601 or seconds)")
    end: dt.datetime = Field(description="end of the range, exclusive")
    points: int = Field(200, ge=2, le=2000, description="wanted number of points (line graphs)")
    dimensions: list[str] = Field(
        default_factory=list, max_length=6, description="group by these (see /dimensions)"
    )
    limit: int = Field(10, ge=1, le=50, description="top-N combinations; the rest is `Other`")
    limit_type: LimitType = Field("avg", description="rank series by average, max, last or p95")
    unit: Unit = Field(
        "l3bps",
        description="l3bps: IP bits/s; l2bps: + 38 B of Ethernet per packet; pps; "
        "inl2%/outl2%: L2 bits/s as a percentage of the in/out interface speed",
    )
    filter: str = Field("", description="filter language (see /filter/validate)")
    bidirectional: bool = Field(
        False, description="also the reverse direction (In<->Out, Src<->Dst)"
    )
    previous_period: Literal["none", "day", "week"] = Field(
        "none", description="also the total of the same range one day/week earlier"
    )
    truncate_v4: int = Field(
        24, ge=0, le=32, multiple_of=8, description="SrcNetPrefix/DstNetPrefix"
    )
    truncate_v6: int = Field(48, ge=0, le=128, multiple_of=8)

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, v: dt.datetime) -> dt.datetime:
        return v if v.tzinfo else v.replace(tzinfo=dt.UTC)

    @field_validator("dimensions")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        out = []
        for name in v:
            dim = DIMENSIONS_LOWER.get(name.lower())
            if dim is None:
                raise ValueError(f"unknown dimension {name!r} (see /api/v0/console/dimensions)")
            out.append(dim.name)
        return out

    @model_validator(mode="after")
    def _range(self) -> GraphRequest:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > dt.timedelta(days=800):
            raise ValueError("the range is longer than 800 days")
        return self


class SankeyRequest(GraphRequest):
    @field_validator("dimensions")
    @classmethod
    def _two(cls, v: list[str]) -> list[str]:
        if len(v) < 2:
            raise ValueError("a sankey needs at least two dimensions")
        return v


class SeriesStats(BaseModel):
    min: float
    max: float
    avg: float
    p95: float
    total: float = Field(description="integral over the range: bits, packets, or %·s")


class Series(BaseModel):
    dimensions: list[str]
    values: list[float]
    stats: SeriesStats


class TableUsed(BaseModel):
    name: str = Field(description="flows or a rollup such as flows_1h0m0s")
    resolution: int = Field(description="seconds per row of that table (1 for flows)")
    reason: str


class LineGraph(BaseModel):
    unit: Unit
    interval: int = Field(description="seconds per point")
    table: TableUsed
    time: list[dt.datetime]
    series: list[Series]
    reverse: list[Series] | None = None
    previous: Series | None = None
    sql: list[str] = Field(description="every statement run for this graph, in order")


class SankeyLink(BaseModel):
    source: str
    target: str
    value: float


class SankeyGraph(BaseModel):
    unit: Unit
    table: TableUsed
    nodes: list[str]
    links: list[SankeyLink]
    rows: list[Series]
    sql: list[str]


class FilterRequest(_Request):
    filter: str


class FilterValidation(BaseModel):
    valid: bool
    sql: str = ""
    message: str = ""
    offset: int = 0
    line: int = 0
    column: int = 0


class CompleteRequest(_Request):
    filter: str
    cursor: int = Field(ge=0, description="offset of the cursor in `filter`")


class Completion(BaseModel):
    label: str
    kind: Literal["column", "operator", "value", "keyword"]
    detail: str = ""


class Completions(BaseModel):
    start: int = Field(description="offset where the completed word starts")
    end: int
    completions: list[Completion]


class DimensionInfo(BaseModel):
    name: str
    in_rollups: bool
    doc: str = ""


class SavedViewIn(_Request):
    name: str = Field(min_length=1, max_length=200)
    state: str = Field(max_length=8000, description="the visualize page's URL query string")


class SavedView(BaseModel):
    id: str = Field(description="stable short id; /v/<id> opens it")
    name: str
    state: str
    owner: str
    created: dt.datetime


class SavedFilterIn(_Request):
    name: str = Field(min_length=1, max_length=200)
    filter: str = Field(max_length=4096)


class SavedFilter(BaseModel):
    id: str
    name: str
    filter: str
    owner: str


class User(BaseModel):
    name: str
    email: str = ""


class InterfaceSummary(BaseModel):
    index: int
    name: str
    description: str
    speed: int = Field(description="Mbit/s")
    boundary: str
    provider: str
    connectivity: str
    in_bps: float = Field(description="L3 bits/s received on it over the last 5 minutes")
    out_bps: float


class ExporterSummary(BaseModel):
    address: str
    name: str
    group: str
    role: str
    site: str
    region: str
    tenant: str
    sampling_rates: list[int]
    flows_per_second: float = Field(description="flow records/s over the last 5 minutes")
    last_flow: dt.datetime | None
    templates: int | None = Field(
        None, description="templates the outlets know (None: no outlet answered)"
    )
    versions: list[str] = Field(
        default_factory=list, description="NetFlow/IPFIX/sFlow versions seen"
    )
    decoder_errors: dict[str, int] = Field(
        default_factory=dict, description="by kind, since the outlets started"
    )
    interfaces: list[InterfaceSummary]


class Exporters(BaseModel):
    exporters: list[ExporterSummary]
    outlet_problems: list[str] = Field(
        default_factory=list, description="outlets that did not answer"
    )
    sql: list[str]


class TopItem(BaseModel):
    name: str
    percent: float


class TopWidget(BaseModel):
    what: str
    top: list[TopItem]
    sql: str


class FlowRateWidget(BaseModel):
    flows_per_second: float
    exporters: int
    last_flow: dt.datetime | None
    sql: str
