"""Saved views and filters, per user, in SQLite (`console.state-file`).

Why SQLite and not ClickHouse: the console talks to ClickHouse as a read-only user
(by design: one query cannot change the data), and saved views are a few small rows
that are created, renamed and deleted one at a time, with a unique short id: what a
transactional store does well and a MergeTree does badly (no unique keys, deletes are
mutations). A view's id is random (8 characters of base32) and never changes, so its
link `/v/<id>` stays valid; any signed-in user can open a link, only its owner can
delete it.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import sqlite3
import threading
from pathlib import Path

from collector.console.models import SavedFilter, SavedView

SCHEMA = """
CREATE TABLE IF NOT EXISTS views (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,
  created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS views_owner ON views (owner);
CREATE TABLE IF NOT EXISTS filters (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, filter TEXT NOT NULL
);
"""


def short_id() -> str:
    return base64.b32encode(os.urandom(5)).decode().lower()


class StateStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def add_view(self, owner: str, name: str, state: str) -> SavedView:
        view = SavedView(
            id=short_id(), name=name, state=state, owner=owner, created=dt.datetime.now(dt.UTC)
        )
        with self._lock, self.db:
            self.db.execute(
                "INSERT INTO views VALUES (?, ?, ?, ?, ?)",
                (view.id, owner, name, state, view.created.isoformat()),
            )
        return view

    def view(self, view_id: str) -> SavedView | None:
        with self._lock:
            row = self.db.execute(
                "SELECT id, owner, name, state, created FROM views WHERE id = ?", (view_id,)
            ).fetchone()
        return None if row is None else _view(row)

    def views(self, owner: str) -> list[SavedView]:
        with self._lock:
            rows = self.db.execute(
                "SELECT id, owner, name, state, created FROM views WHERE owner = ? "
                "ORDER BY created DESC",
                (owner,),
            ).fetchall()
        return [_view(r) for r in rows]

    def delete_view(self, owner: str, view_id: str) -> bool:
        with self._lock, self.db:
            cur = self.db.execute("DELETE FROM views WHERE id = ? AND owner = ?", (view_id, owner))
        return cur.rowcount > 0

    def add_filter(self, owner: str, name: str, text: str) -> SavedFilter:
        saved = SavedFilter(id=short_id(), name=name, filter=text, owner=owner)
        with self._lock, self.db:
            self.db.execute(
                "INSERT INTO filters VALUES (?, ?, ?, ?)", (saved.id, owner, name, text)
            )
        return saved

    def filters(self, owner: str) -> list[SavedFilter]:
        with self._lock:
            rows = self.db.execute(
                "SELECT id, owner, name, filter FROM filters WHERE owner = ? ORDER BY name",
                (owner,),
            ).fetchall()
        return [SavedFilter(id=r[0], owner=r[1], name=r[2], filter=r[3]) for r in rows]

    def delete_filter(self, owner: str, filter_id: str) -> bool:
        with self._lock, self.db:
            cur = self.db.execute(
                "DELETE FROM filters WHERE id = ? AND owner = ?", (filter_id, owner)
            )
        return cur.rowcount > 0


def _view(row: tuple[str, str, str, str, str]) -> SavedView:
    return SavedView(
        id=row[0],
        owner=row[1],
        name=row[2],
        state=row[3],
        created=dt.datetime.fromisoformat(row[4]),
    )
