"""Bring a server's schema to what `ddl.build_schema` describes, idempotently.

- Tables are created when missing; columns missing from an existing table are
  added with ALTER (rollups also extend their sorting key); data is never dropped.
  Columns the definition no longer has, type changes and engine/partition/sorting
  changes are reported as warnings and left to the operator.
- Materialized views hold no data: they are dropped and recreated whenever their
  definition changes (the target tables keep their rows).
- What was applied is recorded (name -> hash of the SQL) in `schema_objects`, so
  a second run executes no statement at all: it only reads system tables.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.schema.columns import COLUMNS, Column
from collector.schema.ddl import (
    MEASURES,
    Schema,
    SchemaSettings,
    Table,
    build_schema,
    digest,
    sql_string,
)
from collector.schema.dialect import Dialect, parse_version
from collector.schema.dictionaries import DictionarySpec
from collector.schema.executor import Executor

log = logging.getLogger(__name__)
_PASSWORD = re.compile(r"PASSWORD '(?:[^'\\]|\\.)*'")

BOOKKEEPING_TABLE = "schema_objects"


class SchemaError(Exception):
    """A schema problem the operator must fix; str() says what and how."""


@dataclass
class MigrationReport:
    dialect: Dialect
    statements: list[str] = field(default_factory=list)  # every statement that changed something
    files: list[str] = field(default_factory=list)  # dictionary files written (legacy)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.statements or self.files)


def detect_dialect(executor: Executor) -> Dialect:
    version = str(executor.query("SELECT version()")[0][0])
    return parse_version(version)


class Migrator:
    def __init__(
        self,
        executor: Executor,
        settings: SchemaSettings,
        columns: tuple[Column, ...] = COLUMNS,
        dictionaries_path: str | None = None,
    ) -> None:
        self.executor = executor
        self.settings = settings
        self.columns = columns
        self.dictionaries_path = dictionaries_path
        self.db = settings.database

    # -- helpers -----------------------------------------------------------------

    def _read(self, sql: str) -> list[tuple[Any, ...]]:
        return self.executor.query(sql)

    def _apply(self, report: MigrationReport, sql: str) -> None:
        shown = _PASSWORD.sub("PASSWORD '***'", " ".join(sql.split()))  # never log a password
        log.info("%s: %s", self.executor.name, shown[:200])
        self.executor.query(sql)
        report.statements.append(sql)

    def _record(self, report: MigrationReport, name: str, value: str) -> None:
        self._apply(
            report,
            f"INSERT INTO {self.db}.{BOOKKEEPING_TABLE} (name, hash, version) "
            f"SELECT {sql_string(name)}, {sql_string(value)}, toUInt64({time.time_ns()})",
        )

    def _warn(self, report: MigrationReport, message: str) -> None:
        log.warning("%s: %s", self.executor.name, message)
        report.warnings.append(message)

    # -- the run -----------------------------------------------------------------

    def schema(self, dialect: Dialect) -> Schema:
        return build_schema(self.settings, dialect, self.columns)

    def migrate(self) -> MigrationReport:
        dialect = detect_dialect(self.executor)
        if self.settings.ttl == "always" and not dialect.ttl:
            raise SchemaError(
                f"orchestrator.ttl is `always` but ClickHouse {self.executor.name} "
                f"{dialect} has no TTL; set orchestrator.ttl to `auto` (retention by partition drops)"
            )
        schema = self.schema(dialect)
        report = MigrationReport(dialect)
        db = self.db
        if not self._read(f"SELECT name FROM system.databases WHERE name = {sql_string(db)}"):
            self._apply(report, f"CREATE DATABASE IF NOT EXISTS {db}")
        engines = dict(
            self._read(f"SELECT name, engine FROM system.tables WHERE database = {sql_string(db)}")
        )
        if BOOKKEEPING_TABLE not in engines:
            self._apply(
                report,
                f"CREATE TABLE IF NOT EXISTS {db}.{BOOKKEEPING_TABLE} "
                "(name String, hash String, version UInt64) "
                "ENGINE = ReplacingMergeTree(version) ORDER BY name",
            )
            recorded: dict[str, str] = {}
        else:
            recorded = {
                str(n): str(h)
                for n, h in self._read(
                    f"SELECT name, argMax(hash, version) FROM {db}.{BOOKKEEPING_TABLE} GROUP BY name"
                )
            }
        existing_columns: dict[str, list[tuple[str, str]]] = {}
        for table, name, ctype in self._read(
            "SELECT table, name, type FROM system.columns "
            f"WHERE database = {sql_string(db)} ORDER BY table"
        ):
            existing_columns.setdefault(str(table), []).append((str(name), str(ctype)))

        for table in schema.tables:
            if table.name not in engines:
                self._apply(report, table.create_sql(db))
                self._record(report, f"table:{table.name}", digest(table.identity_sql()))
                if dialect.ttl:
                    self._record(report, f"ttl:{table.name}", digest(table.ttl))
            else:
                self._alter_table(report, dialect, table, existing_columns.get(table.name, []))
                self._check_shape(report, table, recorded)
                if dialect.ttl:
                    self._sync_ttl(report, table, recorded)

        if dialect.create_dictionary:
            self._dictionaries_modern(report, schema, engines, recorded)
        else:
            self._dictionaries_legacy(report, schema)

        wanted_views = {v.name for v in schema.views}
        for view in schema.views:
            sql = view.create_sql(db)
            key = f"view:{view.name}"
            if view.name in engines and recorded.get(key) == digest(sql):
                continue
            if view.name in engines:
                self._apply(report, f"DROP TABLE IF EXISTS {db}.{view.name}")
            self._apply(report, sql)
            self._record(report, key, digest(sql))
        for key, value in recorded.items():
            name = key.removeprefix("view:")
            if key.startswith("view:") and name not in wanted_views and value:
                if name in engines:
                    self._apply(report, f"DROP TABLE IF EXISTS {db}.{name}")
                self._record(report, key, "")
                target = name.removeprefix("flows_raw_").removesuffix("_mv")
                self._warn(
                    report,
                    f"view {name} is no longer in the configuration and was dropped; its table "
                    f"{target} keeps its rows (drop it by hand when they are no longer needed)",
                )
        return report

    def _alter_table(
        self,
        report: MigrationReport,
        dialect: Dialect,
        table: Table,
        existing: list[tuple[str, str]],
    ) -> None:
        have = dict(existing)
        wanted = {c.name for c in table.columns}
        clauses: list[str] = []
        new: set[str] = set()
        previous = ""
        for col in table.columns:
            if col.name not in have:
                where = f" AFTER `{previous}`" if previous else ""
                clauses.append(f"ADD COLUMN {col.sql()}{where}")
                new.add(col.name)
            elif have[col.name] != col.type:
                self._warn(
                    report,
                    f"{table.name}.{col.name} is {have[col.name]} on the server, "
                    f"the definition says {col.type}; left as is (ALTER it by hand if needed)",
                )
            previous = col.name
        for name, _ in existing:
            if name not in wanted:
                self._warn(
                    report,
                    f"{table.name}.{name} is not in the definition any more; kept with its data",
                )
        if not clauses:
            return
        if table.sort_all_dimensions:
            new_dims = new - set(MEASURES)
            if new_dims:
                clauses.append(f"MODIFY ORDER BY ({', '.join(table.order_key_for(new_dims))})")
        self._apply(report, f"ALTER TABLE {self.db}.{table.name} {', '.join(clauses)}")

    def _check_shape(self, report: MigrationReport, table: Table, recorded: dict[str, str]) -> None:
        key = f"table:{table.name}"
        shape = digest(table.identity_sql())
        if key not in recorded:
            self._record(report, key, shape)
        elif recorded[key] != shape:
            self._warn(
                report,
                f"{table.name} was created with another engine, partitioning or sorting key than "
                f"the configuration now gives ({table.identity_sql()}); existing tables keep theirs "
                "(rename the table and migrate again to apply it, then copy the rows over)",
            )

    def _sync_ttl(self, report: MigrationReport, table: Table, recorded: dict[str, str]) -> None:
        key = f"ttl:{table.name}"
        if recorded.get(key) == digest(table.ttl):
            return
        if table.ttl:
            self._apply(report, f"ALTER TABLE {self.db}.{table.name} MODIFY TTL {table.ttl}")
        elif key in recorded:
            self._apply(report, f"ALTER TABLE {self.db}.{table.name} REMOVE TTL")
        self._record(report, key, digest(table.ttl))

    # -- dictionaries ------------------------------------------------------------

    def _dictionaries_modern(
        self,
        report: MigrationReport,
        schema: Schema,
        engines: dict[str, str],
        recorded: dict[str, str],
    ) -> None:
        db = self.db
        present = {
            str(r[0])
            for r in self._read(
                f"SELECT name FROM system.dictionaries WHERE database = {sql_string(db)}"
            )
        }
        for spec in schema.dictionaries:
            data_sql, dict_sql = schema.dictionary_sql(spec)
            reload = False
            if spec.data_table not in engines:
                self._apply(report, data_sql)
            data_key = f"dictionary-data:{spec.name}"
            if recorded.get(data_key) != digest(spec.csv()) or spec.data_table not in engines:
                self._apply(report, f"TRUNCATE TABLE {db}.{spec.data_table}")
                self._apply(report, _insert_rows(f"{db}.{spec.data_table}", spec))
                self._record(report, data_key, digest(spec.csv()))
                reload = True
            dict_key = f"dictionary:{spec.name}"
            if spec.name not in present or recorded.get(dict_key) != digest(dict_sql):
                self._apply(report, f"DROP DICTIONARY IF EXISTS {db}.{spec.name}")
                self._apply(report, dict_sql)
                self._record(report, dict_key, digest(dict_sql))
            elif reload:
                self._apply(report, f"SYSTEM RELOAD DICTIONARY {db}.{spec.name}")

    def _dictionaries_legacy(self, report: MigrationReport, schema: Schema) -> None:
        """Legacy servers read dictionaries from XML files in their dictionaries_config path."""
        if not self.dictionaries_path:
            self._warn(
                report,
                "orchestrator.dictionaries-path is empty: no protocol/ICMP dictionaries on this server",
            )
            return
        directory = Path(self.dictionaries_path)
        try:
            for path, text in legacy_dictionary_files(directory, self.db, schema.dictionaries):
                if not path.exists() or path.read_text() != text:
                    path.write_text(text)
                    report.files.append(str(path))
        except OSError as exc:
            self._warn(
                report,
                f"cannot write dictionary files in {directory}: {exc.strerror}; set "
                "orchestrator.dictionaries-path to the directory of the server's dictionaries_config "
                "(on the ClickHouse host) or make it writable",
            )
            return
        wanted = {f"{self.db}.{spec.name}" for spec in schema.dictionaries}
        loaded = {str(r[0]) for r in self._read("SELECT name FROM system.dictionaries")}
        if report.files or not wanted <= loaded:
            self._apply(report, "SYSTEM RELOAD DICTIONARIES")
            loaded = {str(r[0]) for r in self._read("SELECT name FROM system.dictionaries")}
            if not wanted <= loaded:
                self._warn(
                    report,
                    f"the server did not load the dictionaries written to {directory}; make its "
                    f"dictionaries_config include {directory}/*_dictionary.xml",
                )


def _insert_rows(table: str, spec: DictionarySpec) -> str:
    """INSERT ... SELECT (not VALUES) so that every client sends it as a plain query."""
    n = len(spec.attributes) + 1
    cols = ", ".join(f"tupleElement(row, {i})" for i in range(1, n + 1))
    return (
        f"INSERT INTO {table} SELECT {cols} FROM (SELECT arrayJoin([{spec.values_sql()}]) AS row)"
    )


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def legacy_dictionary_files(
    directory: Path, database: str, specs: Iterable[DictionarySpec]
) -> list[tuple[Path, str]]:
    """The files a legacy server (before 21) reads its dictionaries from: per dictionary a CSV
    of its rows and the XML that declares it, in the server's dictionaries_config directory.
    The orchestrator writes them when it runs on the ClickHouse host; the Ansible role writes
    the same files on every ClickHouse host."""
    files: list[tuple[Path, str]] = []
    for spec in specs:
        csv_path = directory / f"{database}_{spec.name}.csv"
        xml_path = directory / f"{database}_{spec.name}_dictionary.xml"
        files.append((csv_path, spec.csv()))
        files.append((xml_path, _legacy_dictionary_xml(f"{database}.{spec.name}", spec, csv_path)))
    return files


def _legacy_dictionary_xml(name: str, spec: DictionarySpec, csv_path: Path) -> str:
    attributes = "".join(
        f"<attribute><name>{a}</name><type>String</type><null_value></null_value></attribute>"
        for a in spec.attributes
    )
    return (
        '<?xml version="1.0"?>\n'
        "<!-- written by flowweir orchestrator; changes are overwritten -->\n"
        "<yandex><dictionary>\n"
        f"  <name>{_xml_escape(name)}</name>\n"
        f"  <source><file><path>{_xml_escape(str(csv_path))}</path>"
        "<format>CSVWithNames</format></file></source>\n"
        "  <lifetime>3600</lifetime>\n"
        "  <layout><hashed/></layout>\n"
        f"  <structure><id><name>{spec.key}</name></id>{attributes}</structure>\n"
        "</dictionary></yandex>\n"
    )


_PARTITION_KEY = re.compile(r"intDiv\(toUInt32\(TimeReceived\),\s*(\d+)\)")


def partition_interval_of(executor: Executor, database: str, table: str) -> int | None:
    """Seconds per partition of an existing table, read from its partition key."""
    rows = executor.query(f"SHOW CREATE TABLE {database}.{table}")
    m = _PARTITION_KEY.search(str(rows[0][0])) if rows else None
    return int(m.group(1)) if m else None
