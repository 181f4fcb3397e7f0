"""The generated schema on a real 18.16 server (legacy dialect) and in chdb (modern dialect)."""

from __future__ import annotations

import time
from dataclasses import replace

from collector.schema.columns import COLUMNS, Column, Origin
from collector.schema.ddl import Rollup
from collector.schema.retention import drop_expired_partitions
from tests.orchestrator.conftest import Backend, flow, ip

ROLLUPS = ("flows_1m0s", "flows_5m0s", "flows_1h0m0s")


def test_flows_reach_every_table(backend: Backend) -> None:
    report = backend.migrator().migrate()
    assert report.dialect.modern == (backend.kind == "modern")
    now = int(time.time()) // 3600 * 3600 + 125  # 2 min 5 s into the hour
    rows = [
        flow(
            now,
            ExporterAddress=ip(1),
            ExporterName="edge1",
            SrcAddr=ip(10),
            DstAddr=ip(20),
            SrcPort=40000 + i,
            DstPort=443,
            Proto=6,
            Bytes=1000,
            Packets=2,
            InIf=10,
            OutIf=20,
            InIfName="et-0/0/1",
            OutIfName="et-0/0/2",
        )
        for i in range(3)
    ] + [
        flow(
            now + 3600 * 0,
            ExporterAddress=ip(2),
            ExporterName="edge2",
            Proto=1,
            ICMPv4Type=8,
            Bytes=64,
            Packets=1,
            InIf=1,
            OutIf=2,
            InIfName="ge-1",
            OutIfName="ge-2",
        )
    ]
    backend.insert(rows)
    db = backend.database
    assert backend.scalar(f"SELECT count() FROM {db}.flows") == 4
    assert backend.scalar(f"SELECT sum(Bytes) FROM {db}.flows") == 3064
    for table in ROLLUPS:
        # Rollups sum Bytes/Packets over the bucket and keep no addresses or ports.
        by_exporter = backend.executor.query(
            f"SELECT ExporterName, sum(Bytes), sum(Packets), count() FROM {db}.{table} "
            "GROUP BY ExporterName ORDER BY ExporterName"
        )
        assert [tuple(r[:3]) for r in by_exporter] == [("edge1", 3000, 6), ("edge2", 64, 1)]
        columns = {r[0] for r in backend.executor.query(f"DESCRIBE TABLE {db}.{table}")}
        assert "SrcAddr" not in columns and "DstPort" not in columns
        assert {"ExporterAddress", "InIfName", "Proto"} <= columns
    bucket = backend.scalar(f"SELECT toUInt32(min(TimeReceived)) FROM {db}.flows_5m0s")
    assert bucket == now // 300 * 300
    interfaces = backend.executor.query(
        f"SELECT ExporterName, IfIndex, IfName FROM {db}.exporters FINAL ORDER BY ExporterName, IfIndex"
    )
    assert [tuple(r) for r in interfaces] == [
        ("edge1", 10, "et-0/0/1"),
        ("edge1", 20, "et-0/0/2"),
        ("edge2", 1, "ge-1"),
        ("edge2", 2, "ge-2"),
    ]
    names = backend.executor.query(
        f"SELECT dictGetString('{db}.protocols', 'name', toUInt64(Proto)), "
        f"dictGetString('{db}.icmp', 'name', toUInt64(Proto * 65536 + ICMPv4Type * 256 + ICMPv4Code)) "
        f"FROM {db}.flows WHERE ExporterName = 'edge2'"
    )
    assert [tuple(r) for r in names] == [("ICMP", "echo-request")]


def test_second_run_changes_nothing(backend: Backend) -> None:
    first = backend.migrator().migrate()
    assert first.changed
    before = backend.snapshot()
    second = backend.migrator().migrate()
    assert second.statements == [] and second.files == [] and second.warnings == []
    assert backend.snapshot() == before


def test_added_column_and_resolution_keep_data(backend: Backend) -> None:
    backend.migrator().migrate()
    now = int(time.time())
    backend.insert([flow(now, ExporterName="edge1", Bytes=100, Packets=1)])
    extra = Column("SrcCountryCode", "String", "O", Origin.ENRICH, low_cardinality=True)
    columns = (*COLUMNS, extra)
    settings = backend.settings()
    rollups = (*settings.rollups, Rollup(30, 86400, 86400))
    report = backend.migrator(columns, rollups=rollups).migrate()
    assert report.warnings == []
    # Tables were altered or created, never dropped; only views were recreated.
    assert not [s for s in report.statements if s.startswith("DROP") and "_mv" not in s]
    db = backend.database
    for table in ("flows_raw", "flows", *ROLLUPS, "flows_30s"):
        columns_now = {r[0] for r in backend.executor.query(f"DESCRIBE TABLE {db}.{table}")}
        assert "SrcCountryCode" in columns_now, table
    assert backend.scalar(f"SELECT sum(Bytes) FROM {db}.flows") == 100
    assert backend.scalar(f"SELECT sum(Bytes) FROM {db}.flows_1m0s") == 100
    # The view path carries the new column from the raw table to flows and the rollups.
    backend.insert(
        [flow(now, ExporterName="edge1", Bytes=7, Packets=1, SrcCountryCode="FR")], columns
    )
    assert backend.scalar(f"SELECT sum(Bytes) FROM {db}.flows WHERE SrcCountryCode = 'FR'") == 7
    for table in (*ROLLUPS, "flows_30s"):
        got = backend.executor.query(
            f"SELECT SrcCountryCode, sum(Bytes) FROM {db}.{table} "
            "GROUP BY SrcCountryCode ORDER BY SrcCountryCode"
        )
        expected = [("FR", 7)] if table == "flows_30s" else [("", 100), ("FR", 7)]
        assert [tuple(r) for r in got] == expected, table
    # A rollup must not sum rows that differ by the new dimension: it joined the sorting key.
    create = str(backend.scalar(f"SHOW CREATE TABLE {db}.flows_1m0s"))
    assert "SrcCountryCode)" in create.split("ORDER BY", 1)[1]
    again = backend.migrator(columns, rollups=rollups).migrate()
    assert again.statements == []


def test_retention_drops_expired_partitions(backend: Backend) -> None:
    # ttl: never so that the orchestrator's timer is what enforces retention on both dialects.
    migrator = backend.migrator(ttl="never", partition_interval=3600, retention=2 * 86400)
    migrator.migrate()
    schema = migrator.schema(migrator_dialect(backend))
    now = time.time()
    old, recent = int(now - 3 * 86400), int(now - 3600)
    backend.insert([flow(old, Bytes=1, Packets=1), flow(recent, Bytes=10, Packets=1)])
    db = backend.database
    assert backend.scalar(f"SELECT sum(Bytes) FROM {db}.flows") == 11
    dropped = drop_expired_partitions(backend.executor, schema, now)
    assert {d.table for d in dropped} == {"flows"}  # rollups keep 7 days and more
    assert backend.scalar(f"SELECT sum(Bytes) FROM {db}.flows") == 10
    assert drop_expired_partitions(backend.executor, schema, now) == []


def migrator_dialect(backend: Backend):  # type: ignore[no-untyped-def]
    from collector.schema.migrate import detect_dialect

    return detect_dialect(backend.executor)


def test_view_recreated_when_its_select_changes(backend: Backend) -> None:
    backend.migrator().migrate()
    backend.insert([flow(int(time.time()), Bytes=5, Packets=1)])
    # Same tables, a rollup on another time bucket expression: only its view changes.
    migrator = backend.migrator()
    schema = migrator.schema(migrator_dialect(backend))
    view = next(v for v in schema.views if v.target == "flows_1m0s")
    changed = replace(view, select=view.select.replace("SELECT ", "SELECT /* v2 */ ", 1))
    migrator.schema = lambda dialect: replace(  # type: ignore[method-assign]
        schema, views=tuple(changed if v is view else v for v in schema.views)
    )
    report = migrator.migrate()
    assert [s.split()[0] for s in report.statements if "INSERT" not in s] == ["DROP", "CREATE"]
    assert backend.scalar(f"SELECT sum(Bytes) FROM {backend.database}.flows_1m0s") == 5


def test_modern_ttl_enforces_and_follows_retention(modern: Backend) -> None:
    migrator = modern.migrator(partition_interval=3600, retention=2 * 86400)
    migrator.migrate()
    now = time.time()
    modern.insert([flow(now - 3 * 86400, Bytes=1, Packets=1), flow(now - 60, Bytes=10, Packets=1)])
    db = modern.database
    modern.executor.query(f"OPTIMIZE TABLE {db}.flows FINAL")
    assert modern.scalar(f"SELECT sum(Bytes) FROM {db}.flows") == 10
    # The timer leaves TTL-managed tables alone.
    schema = migrator.schema(migrator_dialect(modern))
    assert drop_expired_partitions(modern.executor, schema, now) == []
    report = modern.migrator(partition_interval=3600, retention=86400).migrate()
    assert [s for s in report.statements if "TTL" in s] == [
        f"ALTER TABLE {db}.flows MODIFY TTL TimeReceived + toIntervalSecond(86400)"
    ]
    assert "toIntervalSecond(86400)" in str(modern.scalar(f"SHOW CREATE TABLE {db}.flows"))
