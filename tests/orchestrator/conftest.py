"""Two backends for the schema tests: Debian's ClickHouse 18.16 server (legacy dialect,
inserts through clickhouse-driver like the outlet) and chdb (modern dialect, in-process)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector.schema.columns import COLUMNS, Column
from collector.schema.ddl import SchemaSettings, insert_statement
from collector.schema.executor import ChdbExecutor, DriverExecutor, Executor
from collector.schema.migrate import Migrator

_db_numbers = itertools.count(1)


def ip(last: int) -> bytes:
    """::ffff:192.0.2.<last> in the 16-byte form the columns use."""
    return b"\x00" * 10 + b"\xff\xff" + bytes([192, 0, 2, last])


def flow(when: float, **values: Any) -> dict[str, Any]:
    """A flow row with every column of COLUMNS filled with a plausible default."""
    row: dict[str, Any] = {}
    for col in COLUMNS:
        if col.ch_type == "DateTime":
            row[col.name] = int(when)
        elif col.ch_type == "FixedString(16)":
            row[col.name] = ip(1)
        elif col.ch_type.startswith("Array"):
            row[col.name] = []
        elif col.ch_type == "String":
            row[col.name] = ""
        else:
            row[col.name] = 0
    row.update(values)
    return row


def _literal(col: Column, value: Any) -> str:
    if col.ch_type == "DateTime":
        return f"toDateTime({int(value)})"
    if col.ch_type == "FixedString(16)":
        return f"toFixedString(unhex('{value.hex()}'), 16)"
    if col.ch_type.startswith("Array"):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if col.ch_type == "String":
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(int(value))


@dataclass
class Backend:
    """One database on one server, with the way to insert flows like the outlet would."""

    kind: str  # "legacy" or "modern"
    executor: Executor
    database: str
    dictionaries_path: str | None
    client: Any = None  # clickhouse-driver Client (legacy)

    def settings(self, **kw: Any) -> SchemaSettings:
        return SchemaSettings(database=self.database, **kw)

    def migrator(self, columns: tuple[Column, ...] = COLUMNS, **kw: Any) -> Migrator:
        return Migrator(
            self.executor, self.settings(**kw), columns, dictionaries_path=self.dictionaries_path
        )

    def insert(self, rows: list[dict[str, Any]], columns: tuple[Column, ...] = COLUMNS) -> None:
        table = f"{self.database}.flows_raw"
        names = [c.name for c in columns]
        if self.client is not None:
            data = [
                [
                    dt.datetime.fromtimestamp(r[c.name], dt.UTC).replace(tzinfo=None)
                    if c.ch_type == "DateTime"
                    else r[c.name]
                    for c in columns
                ]
                for r in rows
            ]
            self.client.execute(insert_statement(self.database, columns), data)
        else:
            values = ", ".join(
                "(" + ", ".join(_literal(c, r[c.name]) for c in columns) + ")" for r in rows
            )
            self.executor.query(f"INSERT INTO {table} ({', '.join(names)}) VALUES {values}")

    def scalar(self, sql: str) -> Any:
        return self.executor.query(sql)[0][0]

    def snapshot(self) -> tuple[list[tuple[Any, ...]], list[str]]:
        """What a second migration must not change: columns and every CREATE statement."""
        db = self.database
        columns = sorted(  # stable: keeps each table's column order
            self.executor.query(
                f"SELECT table, name, type FROM system.columns WHERE database = '{db}'"
            ),
            key=lambda r: str(r[0]),
        )
        tables = [r[0] for r in self.executor.query(f"SHOW TABLES FROM {db}")]
        creates = [str(self.scalar(f"SHOW CREATE TABLE {db}.{t}")) for t in sorted(tables)]
        return columns, creates


@pytest.fixture
def legacy(clickhouse_server) -> Backend:  # type: ignore[no-untyped-def]
    db = f"t{next(_db_numbers)}"
    return Backend(
        "legacy",
        DriverExecutor(clickhouse_server.address),
        db,
        str(Path(clickhouse_server.dir) / "dictionaries"),
        client=clickhouse_server.client(),
    )


@pytest.fixture
def modern(chdb_executor: ChdbExecutor) -> Backend:
    return Backend("modern", chdb_executor, f"m{next(_db_numbers)}", None)


@pytest.fixture(params=["legacy", "modern"])
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]
