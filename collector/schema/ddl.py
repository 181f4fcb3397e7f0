"""The ClickHouse schema, generated from `collector.schema.columns`.

Objects (names without the database):

- `flows_raw` (Null engine, every column in COLUMNS order): the outlet inserts here.
  A Null table stores nothing; each insert block is handed to the views below.
- `flows_raw_flows_mv` -> `flows` (MergeTree, partitioned by time, sorted by a
  5-minute bucket, exporter and interface names).
- `flows_raw_flows_<res>_mv` -> `flows_<res>` (SummingMergeTree on Bytes/Packets,
  time rounded to the resolution, no per-address/port/MAC/array columns).
- `flows_raw_exporters_mv` -> `exporters` (ReplacingMergeTree keyed by exporter
  address and ifIndex: the last names seen for every exporter interface).
- dictionaries `protocols` and `icmp` (see `dictionaries.py`).

Everything here is a pure function of (columns, settings, dialect) returning SQL
strings, so the same text runs through clickhouse-driver (real servers) and chdb
(the modern dialect in tests). `migrate.py` compares it with what the server has.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

from collector.schema.columns import COLUMNS, IP, Column
from collector.schema.dialect import Dialect
from collector.schema.dictionaries import DICTIONARIES, DictionarySpec

RAW_TABLE = "flows_raw"
FLOWS_TABLE = "flows"
EXPORTERS_TABLE = "exporters"
MEASURES = ("Bytes", "Packets")  # summed by the rollups
FLOWS_SORT_BUCKET = 300  # seconds: the time bucket leading the `flows` sorting key
SORT_PREFIX = ("ExporterAddress", "InIfName", "OutIfName")  # after the time bucket
MODERN_CODECS = {
    "TimeReceived": "CODEC(DoubleDelta, LZ4)",
    "Bytes": "CODEC(T64, LZ4)",
    "Packets": "CODEC(T64, LZ4)",
}
TTLMode = Literal["auto", "always", "never"]


def go_duration(seconds: int) -> str:
    """Table suffix in Go's duration format, as Akvorado names them: 60 -> 1m0s, 3600 -> 1h0m0s."""
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def rollup_table(interval: int) -> str:
    return f"{FLOWS_TABLE}_{go_duration(interval)}"


def in_rollups(col: Column) -> bool:
    """Rollups keep the dimensions one aggregates by, not the per-flow identifiers.

    Left out: addresses (except the exporter's), ports, MAC addresses and arrays
    (AS paths, communities, MPLS labels), which would make a rollup as large as `flows`.
    """
    if col.ch_type == IP and col.name != "ExporterAddress":
        return False
    if col.ch_type.startswith("Array("):
        return False
    return not col.name.endswith(("Port", "PortNAT", "MAC"))


@dataclass(frozen=True, slots=True)
class Rollup:
    interval: int  # seconds
    retention: int = 0  # seconds, 0: forever
    partition_interval: int = 86400

    @property
    def table(self) -> str:
        return rollup_table(self.interval)


@dataclass(frozen=True, slots=True)
class SchemaSettings:
    database: str = "flowweir"
    partition_interval: int = 6 * 3600
    retention: int = 15 * 86400
    rollups: tuple[Rollup, ...] = (
        Rollup(60, 7 * 86400, 86400),
        Rollup(300, 90 * 86400, 5 * 86400),
        Rollup(3600, 730 * 86400, 7 * 86400),
    )
    ttl: TTLMode = "auto"
    # Modern dictionaries read their table through the local server with these credentials.
    username: str = "default"
    password: str = field(default="", repr=False)

    def uses_ttl(self, dialect: Dialect) -> bool:
        return self.ttl == "always" or (self.ttl == "auto" and dialect.ttl)


@dataclass(frozen=True, slots=True)
class ColumnDef:
    name: str
    type: str  # as the server reports it in system.columns
    codec: str = ""

    def sql(self) -> str:
        return f"`{self.name}` {self.type}" + (f" {self.codec}" if self.codec else "")


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[ColumnDef, ...]
    engine: str
    partition_by: str = ""
    partition_interval: int = 0  # seconds per partition (partition value = time / interval)
    primary_key: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    retention: int = 0  # seconds, 0: forever
    ttl: str = ""  # TTL expression, when the server enforces retention itself
    settings: str = ""
    # Rollups: every column is a sorting key column except the measures; a column added
    # later is appended to the sorting key (MODIFY ORDER BY) so that it is not summed away.
    sort_all_dimensions: bool = False

    def shape_sql(self) -> str:
        """Everything but columns and TTL: what an existing table cannot change in place."""
        out = f"ENGINE = {self.engine}"
        if self.partition_by:
            out += f" PARTITION BY {self.partition_by}"
        if self.primary_key:
            out += f" PRIMARY KEY ({', '.join(self.primary_key)})"
        if self.order_by:
            out += f" ORDER BY ({', '.join(self.order_by)})"
        return out

    def identity_sql(self) -> str:
        """What must not change under an existing table (rollups extend their sorting key)."""
        if not self.sort_all_dimensions:
            return self.shape_sql()
        return Table(
            self.name, (), self.engine, self.partition_by, primary_key=self.primary_key
        ).shape_sql()

    def create_sql(self, database: str) -> str:
        cols = ",\n    ".join(c.sql() for c in self.columns)
        out = f"CREATE TABLE IF NOT EXISTS {database}.{self.name}\n(\n    {cols}\n)\n{self.shape_sql()}"
        if self.ttl:
            out += f"\nTTL {self.ttl}"
        if self.settings:
            out += f"\nSETTINGS {self.settings}"
        return out

    def order_key_for(self, new_columns: set[str]) -> tuple[str, ...]:
        """Sorting key of the existing table (created without `new_columns`), then those columns."""
        before = tuple(k for k in self.order_by if k not in new_columns)
        return before + tuple(k for k in self.order_by if k in new_columns)


@dataclass(frozen=True, slots=True)
class View:
    name: str
    target: str
    select: str

    def create_sql(self, database: str) -> str:
        return f"CREATE MATERIALIZED VIEW {database}.{self.name} TO {database}.{self.target}\nAS {self.select}"


@dataclass(frozen=True, slots=True)
class Schema:
    database: str
    dialect: Dialect
    settings: SchemaSettings
    tables: tuple[Table, ...]
    views: tuple[View, ...]
    dictionaries: tuple[DictionarySpec, ...] = field(default=DICTIONARIES)

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    @property
    def raw_table(self) -> str:
        return f"{self.database}.{RAW_TABLE}"

    @property
    def insert_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.table(RAW_TABLE).columns)

    def dictionary_sql(self, spec: DictionarySpec) -> tuple[str, str]:
        """Modern: (data table DDL, CREATE DICTIONARY) for `spec`."""
        types = [f"`{spec.key}` UInt64", *(f"`{a}` String" for a in spec.attributes)]
        data = (
            f"CREATE TABLE IF NOT EXISTS {self.database}.{spec.data_table} ({', '.join(types)}) "
            f"ENGINE = MergeTree ORDER BY `{spec.key}`"
        )
        creds = ""
        if self.settings.username != "default" or self.settings.password:
            creds = f" USER {sql_string(self.settings.username)} PASSWORD {sql_string(self.settings.password)}"
        dictionary = (
            f"CREATE DICTIONARY {self.database}.{spec.name} ({', '.join(types)}) "
            f"PRIMARY KEY `{spec.key}` "
            f"SOURCE(CLICKHOUSE(DB {sql_string(self.database)} TABLE {sql_string(spec.data_table)}{creds})) "
            f"LIFETIME(MIN 0 MAX 3600) LAYOUT(HASHED())"
        )
        return data, dictionary


def insert_statement(database: str, columns: tuple[Column, ...] = COLUMNS) -> str:
    """What the outlet sends (clickhouse-driver, data after it): every column, in COLUMNS order."""
    names = ", ".join(f"`{c.name}`" for c in columns)
    return f"INSERT INTO {database}.{RAW_TABLE} ({names}) VALUES"


def sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _column_type(col: Column, dialect: Dialect) -> str:
    if col.low_cardinality and dialect.low_cardinality:
        return f"LowCardinality({col.ch_type})"
    return col.ch_type


def _column_defs(
    columns: tuple[Column, ...], dialect: Dialect, codecs: bool
) -> tuple[ColumnDef, ...]:
    use_codecs = codecs and dialect.codecs
    return tuple(
        ColumnDef(
            c.name,
            _column_type(c, dialect),
            MODERN_CODECS.get(c.name, "") if use_codecs else "",
        )
        for c in columns
    )


def _time_table_options(
    settings: SchemaSettings, dialect: Dialect, partition_interval: int, retention: int
) -> dict[str, str | int]:
    opts: dict[str, str | int] = {
        "partition_by": f"intDiv(toUInt32(TimeReceived), {partition_interval})",
        "partition_interval": partition_interval,
        "retention": retention,
    }
    if settings.uses_ttl(dialect) and retention:
        opts["ttl"] = f"TimeReceived + toIntervalSecond({retention})"
    if dialect.modern:
        opts["settings"] = "ttl_only_drop_parts = 1"
    return opts


def build_schema(
    settings: SchemaSettings, dialect: Dialect, columns: tuple[Column, ...] = COLUMNS
) -> Schema:
    """Every table and view for `dialect`, from the column definition `columns`."""
    names = [c.name for c in columns]
    raw = Table(RAW_TABLE, _column_defs(columns, dialect, codecs=False), "Null")

    order_extra = tuple(c.name for c in columns if c.order_key and c.name not in SORT_PREFIX)
    flows_bucket = min(FLOWS_SORT_BUCKET, settings.partition_interval)
    flows = Table(
        FLOWS_TABLE,
        _column_defs(columns, dialect, codecs=True),
        "MergeTree",
        order_by=(
            dialect.time_bucket("TimeReceived", flows_bucket),
            *(k for k in SORT_PREFIX if k in names),
            *order_extra,
        ),
        **_time_table_options(  # type: ignore[arg-type]
            settings, dialect, settings.partition_interval, settings.retention
        ),
    )
    tables = [raw, flows]
    select_all = ", ".join(f"`{n}`" for n in names)
    views = [
        View(
            f"{RAW_TABLE}_{FLOWS_TABLE}_mv",
            FLOWS_TABLE,
            f"SELECT {select_all} FROM {settings.database}.{RAW_TABLE}",
        )
    ]

    rollup_cols = tuple(c for c in columns if in_rollups(c))
    dims = [c.name for c in rollup_cols if c.name not in MEASURES and c.name != "TimeReceived"]
    prefix = [k for k in SORT_PREFIX if k in dims]
    for r in settings.rollups:
        table = Table(
            r.table,
            _column_defs(rollup_cols, dialect, codecs=True),
            f"SummingMergeTree(({', '.join(m for m in MEASURES if m in names)}))",
            primary_key=("TimeReceived", *prefix),
            order_by=("TimeReceived", *prefix, *(d for d in dims if d not in prefix)),
            sort_all_dimensions=True,
            **_time_table_options(  # type: ignore[arg-type]
                settings, dialect, r.partition_interval, r.retention
            ),
        )
        tables.append(table)
        exprs = [
            f"{dialect.time_bucket('TimeReceived', r.interval)} AS TimeReceived"
            if c.name == "TimeReceived"
            else f"`{c.name}`"
            for c in rollup_cols
        ]
        views.append(
            View(
                f"{RAW_TABLE}_{r.table}_mv",
                r.table,
                f"SELECT {', '.join(exprs)} FROM {settings.database}.{RAW_TABLE}",
            )
        )

    exporters, exporters_view = _exporters(columns, dialect, settings.database)
    tables.append(exporters)
    views.append(exporters_view)
    return Schema(settings.database, dialect, settings, tuple(tables), tuple(views))


def _exporters(columns: tuple[Column, ...], dialect: Dialect, database: str) -> tuple[Table, View]:
    """One row per (exporter, interface) seen, both directions of every flow."""
    by_name = {c.name: c for c in columns}
    exporter_cols = [c for c in columns if c.name.startswith("Exporter")]
    # Interface attributes present on both sides: InIfName/OutIfName -> IfName, InIf/OutIf -> IfIndex.
    pairs: list[tuple[str, Column, str, str]] = []
    for c in columns:
        if c.name.startswith("InIf") and "OutIf" + c.name[4:] in by_name:
            pairs.append(("If" + c.name[4:], c, c.name, "OutIf" + c.name[4:]))
    if "InIf" in by_name and "OutIf" in by_name:
        pairs.insert(0, ("IfIndex", by_name["InIf"], "InIf", "OutIf"))
    cols = (
        *_column_defs(tuple(exporter_cols), dialect, codecs=False),
        *(ColumnDef(name, _column_type(col, dialect)) for name, col, _, _ in pairs),
        ColumnDef("LastSeen", "DateTime"),
    )
    table = Table(
        EXPORTERS_TABLE,
        cols,
        "ReplacingMergeTree(LastSeen)",
        order_by=("ExporterAddress", "IfIndex"),
    )
    in_tuple = ", ".join(f"`{i}`" for _, _, i, _ in pairs)
    out_tuple = ", ".join(f"`{o}`" for _, _, _, o in pairs)
    group = [f"`{c.name}`" for c in exporter_cols] + [
        f"tupleElement(iface, {n}) AS `{name}`" for n, (name, _, _, _) in enumerate(pairs, 1)
    ]
    keys = [f"`{c.name}`" for c in exporter_cols] + [f"`{name}`" for name, _, _, _ in pairs]
    select = (
        f"SELECT {', '.join(group)}, max(TimeReceived) AS LastSeen "
        f"FROM {database}.{RAW_TABLE} "
        f"ARRAY JOIN [tuple({in_tuple}), tuple({out_tuple})] AS iface "
        f"GROUP BY {', '.join(keys)}"
    )
    return table, View(f"{RAW_TABLE}_{EXPORTERS_TABLE}_mv", EXPORTERS_TABLE, select)
