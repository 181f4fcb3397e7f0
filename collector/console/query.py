"""The query builder: a validated request in, SQL out (no HTTP, no server).

Table choice: among `flows` and the rollups (`flows_1m0s`, `flows_5m0s`, `flows_1h0m0s`
with the default resolutions), the coarsest table such that
- its resolution fits the points asked for (resolution <= range / points),
- it holds every column the dimensions and the filter read (rollups keep no
  addresses, ports, MACs or arrays: `collector.schema.ddl.in_rollups`),
- its retention still covers the start of the range;
otherwise `flows` (resolution 1 s). The reason is returned with the SQL.

Rates: the measure of a bucket is divided by its length in seconds. Counters are
sampled, so every measure multiplies by `SamplingRate`. L2 adds 38 bytes per packet:
Ethernet preamble and start-of-frame delimiter (8), header (14), FCS (4) and the
inter-frame gap (12), without a VLAN tag; that is what the interface's line rate
carries, so it is the unit to compare with the interface speed (`inl2%`/`outl2%`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from collector.console.dimensions import DIMENSIONS, reverse_name
from collector.console.filter import Filter, parse_filter
from collector.console.models import GraphRequest, TableUsed
from collector.schema.columns import COLUMNS
from collector.schema.ddl import FLOWS_TABLE, in_rollups, rollup_table
from collector.schema.dialect import Dialect

ETHERNET_OVERHEAD = 38  # bytes per packet: preamble+SFD 8, header 14, FCS 4, inter-frame gap 12
ROLLUP_COLUMNS = frozenset(c.name for c in COLUMNS if in_rollups(c))
ALL_COLUMNS = frozenset(c.name for c in COLUMNS)


@dataclass(frozen=True)
class Resolution:
    interval: int  # seconds
    retention: int  # seconds, 0: forever


@dataclass(frozen=True)
class Tables:
    """What the orchestrator created: the `flows` retention and the rollups."""

    database: str = "flowweir"
    flows_retention: int = 15 * 86400
    rollups: tuple[Resolution, ...] = (
        Resolution(60, 7 * 86400),
        Resolution(300, 90 * 86400),
        Resolution(3600, 730 * 86400),
    )


def measure(unit: str) -> str:
    """SQL aggregate of one bucket in the unit's numerator (bits, packets, %·s)."""
    l2_bits = f"(Bytes + {ETHERNET_OVERHEAD} * Packets) * SamplingRate * 8"
    if unit == "l3bps":
        return "sum(Bytes * SamplingRate * 8)"
    if unit == "l2bps":
        return f"sum({l2_bits})"
    if unit == "pps":
        return "sum(Packets * SamplingRate)"
    side = "InIfSpeed" if unit == "inl2%" else "OutIfSpeed"
    return f"sum(if({side} = 0, 0, {l2_bits} * 100 / ({side} * 1000000)))"


def measure_columns(unit: str) -> set[str]:
    cols = {"Bytes", "Packets", "SamplingRate", "TimeReceived"}
    if unit == "inl2%":
        cols.add("InIfSpeed")
    elif unit == "outl2%":
        cols.add("OutIfSpeed")
    return cols


def choose_table(
    tables: Tables, columns: set[str], start: int, end: int, points: int, now: int
) -> TableUsed:
    """The coarsest table that fits (see the module's docstring)."""
    step = (end - start) / max(points, 1)
    missing = sorted(columns - ROLLUP_COLUMNS)
    for r in sorted(tables.rollups, key=lambda r: -r.interval):
        if r.interval > step:
            continue
        if missing:
            return TableUsed(
                name=FLOWS_TABLE,
                resolution=1,
                reason=f"{', '.join(missing)} only in flows (rollups keep no "
                "addresses, ports, MACs or arrays)",
            )
        if r.retention and start < now - r.retention:
            continue
        return TableUsed(
            name=rollup_table(r.interval),
            resolution=r.interval,
            reason=f"coarsest rollup with {r.interval} s <= {int(step)} s per point "
            "holding every column",
        )
    return TableUsed(
        name=FLOWS_TABLE,
        resolution=1,
        reason=f"no rollup fine enough for {max(int(step), 1)} s per point or old enough",
    )


def bucket_interval(table: TableUsed, start: int, end: int, points: int) -> int:
    """Seconds per point: a multiple of the table's resolution, about (end - start) / points."""
    step = max(1, math.ceil((end - start) / max(points, 1)))
    return max(table.resolution, math.ceil(step / table.resolution) * table.resolution)


@dataclass
class Statement:
    sql: str
    dimensions: int  # dimension columns after the time (line) or first (sankey)


@dataclass
class LinePlan:
    table: TableUsed
    interval: int
    start: int  # aligned to interval
    end: int
    main: Statement
    reverse: Statement | None
    previous: Statement | None
    previous_shift: int


class QueryBuilder:
    def __init__(self, tables: Tables, dialect: Dialect) -> None:
        self.tables = tables
        self.dialect = dialect

    def _source(self, table: str) -> str:
        return f"{self.tables.database}.{table}"

    def _columns(self, req: GraphRequest, flt: Filter, reverse: bool) -> set[str]:
        cols = set(flt.columns) | measure_columns(req.unit)
        for name in req.dimensions:
            dim = DIMENSIONS[reverse_name(name) if reverse else name]
            cols |= set(dim.columns)
        return cols

    def _dimension_sql(self, req: GraphRequest, reverse: bool) -> list[str]:
        names = [reverse_name(n) if reverse else n for n in req.dimensions]
        return [DIMENSIONS[n].sql(req.truncate_v4, req.truncate_v6) for n in names]

    def _where(self, start: int, end: int, flt: Filter) -> str:
        return (
            f"TimeReceived >= toDateTime({start}) AND TimeReceived < toDateTime({end}) "
            f"AND {flt.sql}"
        )

    def _top(
        self,
        req: GraphRequest,
        source: str,
        where: str,
        dims: Sequence[str],
        interval: int,
    ) -> str:
        """The top-N dimension tuples, ranked by avg (the sum), max, last or p95 of buckets."""
        value = measure(req.unit)
        listed = ", ".join(dims)
        if req.limit_type == "avg":
            return (
                f"SELECT {listed} FROM {source} WHERE {where} GROUP BY {listed} "
                f"ORDER BY {value} DESC, {listed} LIMIT {req.limit}"
            )
        aliases = [f"d{i}" for i in range(len(dims))]
        inner_dims = ", ".join(f"{d} AS {a}" for d, a in zip(dims, aliases, strict=True))
        rank = {"max": "max(v)", "last": "argMax(v, t)", "p95": "quantile(0.95)(v)"}[req.limit_type]
        bucket = self.dialect.time_bucket("TimeReceived", interval)
        return (
            f"SELECT {', '.join(aliases)} FROM (SELECT {inner_dims}, {bucket} AS t, {value} AS v "
            f"FROM {source} WHERE {where} GROUP BY {', '.join(aliases)}, t) "
            f"GROUP BY {', '.join(aliases)} ORDER BY {rank} DESC, {', '.join(aliases)} "
            f"LIMIT {req.limit}"
        )

    def _with_other(self, dims: Sequence[str], top: str) -> list[str]:
        if not dims:
            return []
        key = dims[0] if len(dims) == 1 else f"({', '.join(dims)})"
        return [f"if({key} IN ({top}), {d}, 'Other') AS d{i}" for i, d in enumerate(dims)]

    def line_statement(
        self,
        req: GraphRequest,
        table: TableUsed,
        interval: int,
        start: int,
        end: int,
        reverse: bool = False,
        total_only: bool = False,
    ) -> Statement:
        flt = parse_filter(req.filter, reverse=reverse)
        source = self._source(table.name)
        where = self._where(start, end, flt)
        dims = [] if total_only else self._dimension_sql(req, reverse)
        selected = self._with_other(dims, self._top(req, source, where, dims, interval))
        bucket = self.dialect.time_bucket("TimeReceived", interval)
        group = ", ".join(["t", *(f"d{i}" for i in range(len(dims)))])
        cols = ", ".join(
            [f"toUInt32({bucket}) AS t", *selected, f"{measure(req.unit)} / {interval} AS v"]
        )
        sql = f"SELECT {cols} FROM {source} WHERE {where} GROUP BY {group} ORDER BY {group}"
        return Statement(sql, len(dims))

    def line(self, req: GraphRequest, now: int) -> LinePlan:
        """Every statement of a line/stacked graph; raises FilterError for a bad filter."""
        start, end = int(req.start.timestamp()), int(req.end.timestamp())
        flt = parse_filter(req.filter)
        columns = self._columns(req, flt, False)
        if req.bidirectional:
            columns |= self._columns(req, parse_filter(req.filter, reverse=True), True)
        table = choose_table(self.tables, columns, start, end, req.points, now)
        interval = bucket_interval(table, start, end, req.points)
        start = start // interval * interval
        end = -(-end // interval) * interval
        main = self.line_statement(req, table, interval, start, end)
        reverse = (
            self.line_statement(req, table, interval, start, end, reverse=True)
            if req.bidirectional
            else None
        )
        shift = {"none": 0, "day": 86400, "week": 7 * 86400}[req.previous_period]
        previous = None
        if shift:
            before = choose_table(self.tables, columns, start - shift, end - shift, req.points, now)
            if before.resolution > interval or interval % before.resolution:
                before = table
            previous = self.line_statement(
                req, before, interval, start - shift, end - shift, total_only=True
            )
        return LinePlan(table, interval, start, end, main, reverse, previous, shift)

    def sankey(self, req: GraphRequest, now: int) -> tuple[TableUsed, Statement]:
        start, end = int(req.start.timestamp()), int(req.end.timestamp())
        flt = parse_filter(req.filter)
        table = choose_table(self.tables, self._columns(req, flt, False), start, end, 1, now)
        source = self._source(table.name)
        where = self._where(start, end, flt)
        dims = self._dimension_sql(req, False)
        # Top-N of each dimension on its own (not of the combinations): with three dimensions
        # the combinations are many, and a top-N of them would leave most traffic in `Other`.
        ranked = req.model_copy(update={"limit_type": "avg"})
        selected = [
            f"if({d} IN ({self._top(ranked, source, where, [d], 0)}), {d}, 'Other') AS d{i}"
            for i, d in enumerate(dims)
        ]
        group = ", ".join(f"d{i}" for i in range(len(dims)))
        sql = (
            f"SELECT {', '.join(selected)}, {measure(req.unit)} / {end - start} AS v "
            f"FROM {source} WHERE {where} GROUP BY {group} ORDER BY v DESC, {group}"
        )
        return table, Statement(sql, len(dims))

    # -- home page and exporters ---------------------------------------------------------

    def flow_rate(self, now: int, seconds: int = 60) -> str:
        return (
            f"SELECT count() / {seconds}, uniqExact(ExporterAddress), toUInt32(max(TimeReceived)) "
            f"FROM {self._source(FLOWS_TABLE)} WHERE TimeReceived >= toDateTime({now - seconds})"
        )

    def last_flow(self) -> str:
        # Partitions are by time: the last one's max is cheap.
        return f"SELECT toUInt32(max(TimeReceived)) FROM {self._source(FLOWS_TABLE)}"

    def top(self, dimension: str, now: int, seconds: int = 300, limit: int = 5) -> tuple[str, str]:
        """(table, SQL) of the top `limit` values of `dimension` over the last `seconds`."""
        dim = DIMENSIONS[dimension]
        table = choose_table(
            self.tables, set(dim.columns) | measure_columns("l3bps"), now - seconds, now, 5, now
        )
        source = self._source(table.name)
        expr = dim.sql()
        value = measure("l3bps")
        sql = (
            f"SELECT {expr} AS d, {value} AS v FROM {source} "
            f"WHERE TimeReceived >= toDateTime({now - seconds}) GROUP BY d ORDER BY v DESC, d "
            f"LIMIT {limit}"
        )
        total = f"SELECT {value} FROM {source} WHERE TimeReceived >= toDateTime({now - seconds})"
        return sql, total

    def exporters(self, now: int, seconds: int = 300) -> tuple[str, str, str]:
        """(interfaces, exporter traffic, interface traffic) statements."""
        db = self.tables.database
        interfaces = (
            "SELECT IPv6NumToString(ExporterAddress) AS a, any(ExporterName), any(ExporterGroup), "
            "any(ExporterRole), any(ExporterSite), any(ExporterRegion), any(ExporterTenant), "
            "IfIndex, argMax(IfName, LastSeen), argMax(IfDescription, LastSeen), "
            "argMax(IfSpeed, LastSeen), argMax(IfBoundary, LastSeen), argMax(IfProvider, LastSeen), "
            f"argMax(IfConnectivity, LastSeen) FROM {db}.exporters "
            "GROUP BY a, IfIndex ORDER BY a, IfIndex"
        )
        flows = (
            "SELECT IPv6NumToString(ExporterAddress) AS a, count() / "
            f"{seconds}, groupUniqArray(SamplingRate), toUInt32(max(TimeReceived)) "
            f"FROM {db}.{FLOWS_TABLE} WHERE TimeReceived >= toDateTime({now - seconds}) "
            "GROUP BY a"
        )
        rollup = choose_table(
            self.tables, {"InIf", "OutIf", "ExporterAddress"}, now - seconds, now, 5, now
        )
        traffic = (
            "SELECT IPv6NumToString(ExporterAddress) AS a, i, sum(b) * 8 / "
            f"{seconds}, sum(o) * 8 / {seconds} FROM (SELECT ExporterAddress, "
            "arrayJoin([(InIf, Bytes * SamplingRate, toUInt64(0)), "
            "(OutIf, toUInt64(0), Bytes * SamplingRate)]) AS x, x.1 AS i, x.2 AS b, x.3 AS o "
            f"FROM {db}.{rollup.name} WHERE TimeReceived >= toDateTime({now - seconds})) "
            "GROUP BY a, i"
        )
        return interfaces, flows, traffic
