"""Retention without TTL: drop the partitions whose whole time range is past retention.

Time-partitioned tables use `intDiv(toUInt32(TimeReceived), N)` as partition key, so a
partition value `p` holds rows from `p * N` to `(p + 1) * N` seconds since the epoch.
The interval is read from the table itself, so a table created with another
`partition-interval` than the current configuration is still handled right.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from collector.schema.ddl import Schema, sql_string
from collector.schema.executor import Executor
from collector.schema.migrate import partition_interval_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DroppedPartition:
    table: str
    partition: int
    start: int  # seconds since the epoch
    end: int


def retention_tables(schema: Schema) -> list[tuple[str, int]]:
    """(table, retention seconds) for tables whose retention the orchestrator enforces."""
    return [
        (t.name, t.retention) for t in schema.tables if t.retention and t.partition_by and not t.ttl
    ]


def drop_expired_partitions(
    executor: Executor, schema: Schema, now: float | None = None
) -> list[DroppedPartition]:
    now = time.time() if now is None else now
    db = schema.database
    dropped: list[DroppedPartition] = []
    for table, retention in retention_tables(schema):
        interval = partition_interval_of(executor, db, table)
        if not interval:
            log.warning(
                "%s: %s.%s has no time partition key; retention not enforced",
                executor.name,
                db,
                table,
            )
            continue
        rows = executor.query(
            "SELECT DISTINCT partition FROM system.parts "
            f"WHERE database = {sql_string(db)} AND table = {sql_string(table)} AND active"
        )
        for (raw,) in rows:
            text = str(raw).strip("'")
            if not text.isdigit():
                continue
            value = int(text)
            start, end = value * interval, (value + 1) * interval
            if end <= now - retention:
                executor.query(f"ALTER TABLE {db}.{table} DROP PARTITION {value}")
                log.info(
                    "%s: dropped partition %d of %s.%s (rows from %s to %s, retention %ds)",
                    executor.name,
                    value,
                    db,
                    table,
                    time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start)),
                    time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(end)),
                    retention,
                )
                dropped.append(DroppedPartition(table, value, start, end))
    return dropped
