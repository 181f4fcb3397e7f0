"""Run the console's statements on ClickHouse, one connection per thread, errors made clear.

The limits themselves live in the read-only user's profile on the server (readonly,
max_execution_time, max_rows_to_read, max_memory_usage); here a server error over
one of them becomes a `QueryError` whose message says which limit and what to do.
"""

from __future__ import annotations

import queue
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from collector.console import metrics as m
from collector.metrics.stats import Stats
from collector.schema.executor import ClickHouseUnreachable, Executor

# ClickHouse error codes that mean "over a limit of the user's profile".
LIMIT_CODES = {
    158: "too many rows to read (max_rows_to_read)",
    159: "query took too long (max_execution_time)",
    160: "query too slow (min_execution_speed)",
    241: "memory limit of the query exceeded (max_memory_usage)",
    307: "too many bytes to read (max_bytes_to_read)",
    396: "too many rows or bytes in the result",
}
_CODE = re.compile(r"Code:\s*(\d+)")


class QueryError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # limit, unreachable, server
        self.message = message


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "message", "") or exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def classify(exc: Exception) -> QueryError:
    code = getattr(exc, "code", None)
    if code is None:
        found = _CODE.search(str(exc))
        code = int(found.group(1)) if found else None
    if code in LIMIT_CODES:
        return QueryError(
            "limit",
            f"ClickHouse stopped the query: {LIMIT_CODES[code]}; "
            "narrow the time range or the filter, or use fewer dimensions",
        )
    return QueryError("server", f"ClickHouse refused the query: {_first_line(exc)}")


class QueryRunner:
    def __init__(self, factory: Callable[[], Executor], stats: Stats, size: int = 4) -> None:
        self._factory = factory
        self.stats = stats
        self._idle: queue.LifoQueue[Executor] = queue.LifoQueue()
        self._size = size

    @contextmanager
    def _executor(self) -> Iterator[Executor]:
        try:
            executor = self._idle.get_nowait()
        except queue.Empty:
            executor = self._factory()
        try:
            yield executor
        finally:
            if self._idle.qsize() < self._size:
                self._idle.put(executor)

    def query(self, sql: str, table: str = "") -> list[tuple[Any, ...]]:
        """Rows of `sql`; raises QueryError. Called from worker threads."""
        began = time.monotonic()
        try:
            with self._executor() as executor:
                return executor.query(sql)
        except ClickHouseUnreachable as exc:
            self.stats.inc(m.QUERY_ERRORS, ("unreachable",))
            raise QueryError("unreachable", f"{exc}; check clickhouse.servers") from None
        except QueryError:
            raise
        except Exception as exc:
            error = classify(exc)
            self.stats.inc(m.QUERY_ERRORS, (error.kind,))
            raise error from None
        finally:
            self.stats.inc(m.QUERIES, (table or "other",))
            self.stats.inc(m.QUERY_SECONDS, (), time.monotonic() - began)
