"""The default store: one SQLite file (WAL) in the data dir, for one process.

One connection guarded by a lock; each call runs on a worker thread so the
event loop never waits for the disk. Version numbers are allocated inside an
IMMEDIATE transaction, so concurrent creates of one name (even from several
processes sharing the data dir) never duplicate or skip a version. The schema
version is SQLite's ``user_version``; migrations run in order at open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from server.store.records import (
    CONVERSATION_TITLES,
    ENTRY_KEYS,
    HISTORY_COLUMNS,
    HistoryBatch,
    ProjectVersion,
    Store,
    StoreError,
    future_schema_error,
    history_rows,
    now_text,
)

# Migration N brings the schema from version N-1 to N. Never edit one that has shipped.
MIGRATIONS: list[str] = [
    """
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
    """,
    CONVERSATION_TITLES,
    ENTRY_KEYS,
]


class SqliteStore(Store):
    """Project versions and history in ``DATA_DIR/distiller.sqlite3``."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "distiller.sqlite3"
        self.where = str(self.path)
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
            else:
                self._db = sqlite3.connect(
                    self.path, check_same_thread=False, isolation_level=None, timeout=30
                )
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        found = self._db.execute("PRAGMA user_version").fetchone()[0]
        if found > len(MIGRATIONS):
            self._db.close()
            raise future_schema_error(self.where, found, len(MIGRATIONS))
        if self.read_only:
            return
        for number in range(found + 1, len(MIGRATIONS) + 1):
            # executescript commits first; the version is bumped in the migration's own
            # transaction so a crash mid-way re-runs it (migrations are idempotent).
            self._db.executescript(
                f"BEGIN IMMEDIATE; {MIGRATIONS[number - 1]}; PRAGMA user_version={number}; COMMIT;"
            )

    async def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- projects ----------------------------------------------------------

    async def create_version(
        self, account: str, project: str, config: dict[str, Any]
    ) -> ProjectVersion:
        return await asyncio.to_thread(self._create_version, account, project, config)

    def _create_version(self, account: str, project: str, config: dict[str, Any]) -> ProjectVersion:
        if self.read_only:
            raise StoreError(f"the data dir {self.path.parent} is read-only")
        config_json = json.dumps(config, separators=(",", ":"), ensure_ascii=False)
        created_at = now_text()
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

    # -- history -----------------------------------------------------------

    async def append_history_batch(self, batch: HistoryBatch) -> None:
        await asyncio.to_thread(self._append_history_batch, batch)

    def _append_history_batch(self, batch: HistoryBatch) -> None:
        if self.read_only:
            raise StoreError(f"the data dir {self.path.parent} is read-only")
        rows = history_rows(batch)
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.executemany(
                    f"INSERT INTO history ({', '.join(HISTORY_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(HISTORY_COLUMNS))}) "
                    "ON CONFLICT (entry_key) DO NOTHING",
                    rows,
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"could not save history: {self._why(exc)}") from exc

    async def _change_conversation(
        self, key: tuple[str, str, str], statements: list[tuple[str, tuple[Any, ...]]]
    ) -> bool:
        return await asyncio.to_thread(self._change_conversation_now, key, statements)

    def _change_conversation_now(
        self, key: tuple[str, str, str], statements: list[tuple[str, tuple[Any, ...]]]
    ) -> bool:
        if self.read_only:
            raise StoreError(f"the data dir {self.path.parent} is read-only")
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                exists = self._db.execute(
                    "SELECT 1 FROM history WHERE account = ? AND project = ? AND uuid = ? LIMIT 1",
                    key,
                ).fetchone()
                for sql, params in statements if exists else ():
                    self._db.execute(sql, params)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(
                    f"could not change conversation {key[2]}: {self._why(exc)}"
                ) from exc
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

    async def _read(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._read_now, query, params)

    def _read_now(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(query, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"could not read the store: {exc}") from exc
