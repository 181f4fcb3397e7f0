"""The ClickHouse writer against a real server: it retries what may pass later (a server away)
and stops at once on what never will (a batch it cannot encode for the table's columns)."""

from __future__ import annotations

import uuid

import pytest

from collector.config.shared import ClickHouseConfig
from collector.devservices.base import free_port
from collector.metrics.stats import Stats
from collector.outlet.clickhouse.writer import WRITER_METRICS, ClickHouseWriter, InsertRefused
from collector.schema.columns import COLUMNS
from tests.outlet.test_enricher import BASE, enrich

P = "flowweir_outlet_clickhouse_"


def batch() -> dict:
    cols, _ = enrich({}, [{**BASE, "SrcAddr": "10.0.0.1", "DstAddr": "10.0.0.2"}] * 3)
    return cols


def test_a_batch_that_cannot_be_encoded_stops_the_writer_without_retrying(clickhouse_server):
    database = f"fw_{uuid.uuid4().hex[:8]}"
    client = clickhouse_server.client()
    client.execute(f"CREATE DATABASE {database}")
    # The table's Bytes column is a type the outlet's encoder does not write.
    columns = ", ".join(f"{c.name} {'UUID' if c.name == 'Bytes' else c.ch_type}" for c in COLUMNS)
    client.execute(f"CREATE TABLE {database}.flows_raw ({columns}) ENGINE = Null")
    stats = Stats(WRITER_METRICS)
    writer = ClickHouseWriter(
        ClickHouseConfig(servers=[clickhouse_server.address], database=database), stats
    )
    asked: list[int] = []
    with pytest.raises(InsertRefused) as info:
        writer.insert(batch(), lambda: bool(asked.append(1)), lambda: None)
    writer.close()
    assert info.value.kind == "encoding" and "Bytes (UUID)" in str(info.value)
    assert "report it as a bug" in info.value.fix
    assert not asked  # no backoff, no retry
    assert stats.get(P + "insert_errors", ("encoding",)) == 1
    assert stats.get(P + "writer_stopped", ("encoding",)) == 1


def test_a_server_away_is_retried_until_told_to_stop():
    stats = Stats(WRITER_METRICS)
    writer = ClickHouseWriter(
        ClickHouseConfig(servers=[f"127.0.0.1:{free_port()}"], timeout=1), stats, backoff_max=0.1
    )

    def three_attempts() -> bool:
        return stats.get(P + "insert_errors", ("network",)) >= 3

    ok = writer.insert(batch(), three_attempts, lambda: None)
    writer.close()
    assert ok is False  # told to stop: the caller keeps the batch uncommitted
    assert stats.get(P + "insert_errors", ("network",)) == 3  # retried until then
    assert stats.get(P + "writer_stopped", ("network",)) == 0
    assert stats.get(P + "up") == 0
