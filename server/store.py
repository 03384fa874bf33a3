"""Durable state: project versions and conversation history, in SQLite (WAL).

One connection guarded by a lock; callers on the event loop go through
`asyncio.to_thread`. Version numbers are allocated inside an IMMEDIATE
transaction, so concurrent creates of one name (even from several processes
sharing the data dir) never duplicate or skip a version.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS project_versions (
    account     TEXT NOT NULL,
    project     TEXT NOT NULL,
    version     INTEGER NOT NULL,
    config_json TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (account, project, version)
);
CREATE TABLE IF NOT EXISTS history (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account    TEXT NOT NULL,
    project    TEXT NOT NULL,
    uuid       TEXT NOT NULL,
    role       TEXT NOT NULL,
    agent      TEXT NOT NULL DEFAULT '',
    text       TEXT NOT NULL,
    cut        INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_user ON history (account, project, uuid, id);
CREATE TABLE IF NOT EXISTS conversation_titles (
    account TEXT NOT NULL,
    project TEXT NOT NULL,
    uuid    TEXT NOT NULL,
    title   TEXT NOT NULL,
    PRIMARY KEY (account, project, uuid)
);
"""


class StoreError(RuntimeError):
    """The store could not be read or written (disk full, read-only, damaged)."""


@dataclass(frozen=True, slots=True)
class ProjectVersion:
    account: str
    project: str
    version: int
    config: dict[str, Any]
    created_at: str


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    name: str
    latest_version: int
    version_count: int
    last_created_at: str


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    role: str  # "user" | "assistant"
    agent: str
    text: str
    cut: bool


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One user's conversation with a project: its title, when, and how many questions."""

    uuid: str
    title: str
    created_at: str
    updated_at: str
    questions: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Store:
    """Project versions per account, and conversation history per user."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "distiller.sqlite3"
        self._lock = threading.Lock()
        # A read-only data dir (a read-only volume, a backup being inspected) still serves
        # its projects; creates fail with a clear reason instead of the server not starting.
        self.read_only = self.path.exists() and not os.access(data_dir, os.W_OK)
        try:
            if self.read_only:
                self._db = sqlite3.connect(
                    f"file:{self.path}?mode=ro&immutable=1",
                    uri=True,
                    check_same_thread=False,
                    isolation_level=None,
                )
                return
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- projects ----------------------------------------------------------

    def create_version(self, account: str, project: str, config: dict[str, Any]) -> ProjectVersion:
        """Store ``config`` as the next version of ``project``; all or nothing."""
        if self.read_only:
            raise StoreError(f"the data dir {self.path.parent} is read-only")
        config_json = json.dumps(config, separators=(",", ":"), ensure_ascii=False)
        created_at = _now()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                row = self._db.execute(
                    "SELECT MAX(version) FROM project_versions WHERE account=? AND project=?",
                    (account, project),
                ).fetchone()
                version = 0 if row[0] is None else row[0] + 1
                self._db.execute(
                    "INSERT INTO project_versions VALUES (?, ?, ?, ?, ?)",
                    (account, project, version, config_json, created_at),
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"could not save project '{project}': {self._why(exc)}") from exc
        return ProjectVersion(account, project, version, config, created_at)

    def get_version(self, account: str, project: str, version: int | None) -> ProjectVersion | None:
        """A stored version, the latest when ``version`` is None; None if absent."""
        query = (
            "SELECT version, config_json, created_at FROM project_versions "
            "WHERE account=? AND project=? "
        )
        params: tuple[Any, ...] = (account, project)
        if version is None:
            query += "ORDER BY version DESC LIMIT 1"
        else:
            query += "AND version=?"
            params += (version,)
        row = self._read_one(query, params)
        if row is None:
            return None
        return ProjectVersion(account, project, row[0], json.loads(row[1]), row[2])

    def list_projects(self, account: str) -> list[ProjectSummary]:
        rows = self._read_all(
            "SELECT project, MAX(version), COUNT(*), MAX(created_at) FROM project_versions "
            "WHERE account=? GROUP BY project ORDER BY project",
            (account,),
        )
        return [ProjectSummary(r[0], r[1], r[2], r[3]) for r in rows]

    def list_versions(self, account: str, project: str) -> list[ProjectVersion]:
        rows = self._read_all(
            "SELECT version, config_json, created_at FROM project_versions "
            "WHERE account=? AND project=? ORDER BY version",
            (account, project),
        )
        return [ProjectVersion(account, project, r[0], json.loads(r[1]), r[2]) for r in rows]

    # -- history -----------------------------------------------------------

    def append_history(
        self, account: str, project: str, uuid: str, entries: list[HistoryEntry]
    ) -> None:
        self.append_history_batch([(account, project, uuid, entries)])

    def append_history_batch(self, batch: list[tuple[str, str, str, list[HistoryEntry]]]) -> None:
        """Several users' turns in one transaction: one commit for many sessions."""
        if self.read_only:
            raise StoreError(f"the data dir {self.path.parent} is read-only")
        now = _now()
        rows = [
            (account, project, uuid, e.role, e.agent, e.text, int(e.cut), now)
            for account, project, uuid, entries in batch
            for e in entries
        ]
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT INTO history (account, project, uuid, role, agent, text, cut, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"could not save history: {self._why(exc)}") from exc

    def recent_history(
        self, account: str, project: str, uuid: str, limit: int = 20
    ) -> list[HistoryEntry]:
        rows = self._read_all(
            "SELECT role, agent, text, cut FROM history WHERE account=? AND project=? AND uuid=? "
            "ORDER BY id DESC LIMIT ?",
            (account, project, uuid, limit),
        )
        return [HistoryEntry(r[0], r[1], r[2], bool(r[3])) for r in reversed(rows)]

    # -- conversations (ours: the app lists, reopens, renames, deletes them) ---

    def list_conversations(
        self, account: str, project: str, query: str = "", limit: int = 50, offset: int = 0
    ) -> list[ConversationSummary]:
        """Newest first; ``query`` matches the title or any words said (case-insensitive)."""
        pattern = f"%{query.lower()}%"
        rows = self._read_all(
            "SELECT h.uuid, MIN(h.created_at), MAX(h.created_at), "
            "SUM(h.role = 'user'), t.title, "
            "(SELECT f.text FROM history f WHERE f.account = h.account AND "
            " f.project = h.project AND f.uuid = h.uuid AND f.role = 'user' ORDER BY f.id LIMIT 1) "
            "FROM history h LEFT JOIN conversation_titles t ON "
            "(t.account = h.account AND t.project = h.project AND t.uuid = h.uuid) "
            "WHERE h.account = ? AND h.project = ? GROUP BY h.uuid "
            "HAVING ? = '' OR lower(coalesce(t.title, '')) LIKE ? OR "
            " SUM(lower(h.text) LIKE ?) > 0 "
            "ORDER BY MAX(h.id) DESC LIMIT ? OFFSET ?",
            (account, project, query, pattern, pattern, limit, offset),
        )
        return [
            ConversationSummary(r[0], r[4] or r[5] or "(no question yet)", r[1], r[2], r[3])
            for r in rows
        ]

    def conversation(self, account: str, project: str, uuid: str) -> list[HistoryEntry]:
        """Everything said in one conversation, in order."""
        return self.recent_history(account, project, uuid, limit=-1)

    def rename_conversation(self, account: str, project: str, uuid: str, title: str) -> bool:
        """False when there is no such conversation."""
        return self._write_conversation(
            account, project, uuid,
            "INSERT INTO conversation_titles VALUES (?, ?, ?, ?) ON CONFLICT "
            "(account, project, uuid) DO UPDATE SET title = excluded.title",
            (account, project, uuid, title),
        )  # fmt: skip

    def delete_conversation(self, account: str, project: str, uuid: str) -> bool:
        """Remove its history and title; False when there is no such conversation."""
        return self._write_conversation(
            account, project, uuid,
            "DELETE FROM history WHERE account = ? AND project = ? AND uuid = ?",
            (account, project, uuid),
            "DELETE FROM conversation_titles WHERE account = ? AND project = ? AND uuid = ?",
        )  # fmt: skip

    def _write_conversation(
        self, account: str, project: str, uuid: str, sql: str, params: tuple[Any, ...],
        *more: str,
    ) -> bool:  # fmt: skip
        if self.read_only:
            raise StoreError(f"the data dir {self.path.parent} is read-only")
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                exists = self._db.execute(
                    "SELECT 1 FROM history WHERE account = ? AND project = ? AND uuid = ? LIMIT 1",
                    (account, project, uuid),
                ).fetchone()
                if exists:
                    self._db.execute(sql, params)
                    for statement in more:
                        self._db.execute(statement, (account, project, uuid))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"could not change conversation {uuid}: {self._why(exc)}") from exc
        return exists is not None

    # -- helpers -----------------------------------------------------------

    def _why(self, exc: sqlite3.Error) -> str:
        """SQLite's reason, with the likely cause when the disk refused the write."""
        text = str(exc)
        if any(word in text for word in ("disk I/O", "full", "readonly", "read-only")):
            return f"{text} (is the disk holding {self.path.parent} full or read-only?)"
        return text

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")

    def _read_one(self, query: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self._lock:
            try:
                return self._db.execute(query, params).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"could not read the store: {exc}") from exc

    def _read_all(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(query, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"could not read the store: {exc}") from exc
