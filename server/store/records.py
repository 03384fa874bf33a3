"""What every store backend stores and returns, and the one interface they share.

The server only ever talks to `Store`; SQLite (one process, the default) and
PostgreSQL (many replicas) implement it. Methods are coroutines so that a
network database needs no thread per call; SQLite runs its calls on a worker
thread behind the same interface.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4


class StoreError(RuntimeError):
    """The store could not be read or written (disk full, read-only, damaged)."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now; the same call may work later."""


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
class HistoryTurn:
    """One user's finished turn, with a key that makes writing it twice harmless.

    A commit whose acknowledgement is lost (the database went away just then) is
    retried; the key lets the store ignore the copy it already has.
    """

    account: str
    project: str
    uuid: str
    entries: list[HistoryEntry]
    key: str = field(default_factory=lambda: uuid4().hex)


HistoryBatch = list[HistoryTurn]


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One user's conversation with a project: its title, when, and how many questions."""

    uuid: str
    title: str
    created_at: str
    updated_at: str
    questions: int


CONVERSATION_TITLES = """
    CREATE TABLE IF NOT EXISTS conversation_titles (
        account TEXT NOT NULL,
        project TEXT NOT NULL,
        uuid    TEXT NOT NULL,
        title   TEXT NOT NULL,
        PRIMARY KEY (account, project, uuid)
    );
"""
"""Migration 2 of every backend: names given to conversations (ours)."""

ENTRY_KEYS = """
    ALTER TABLE history ADD COLUMN entry_key TEXT;
    CREATE UNIQUE INDEX IF NOT EXISTS history_entry_key ON history (entry_key);
"""
"""Migration 3 of every backend: a key per written entry, so a retried write is a no-op."""

RENAME_CONVERSATION = (
    "INSERT INTO conversation_titles VALUES (?, ?, ?, ?) ON CONFLICT "
    "(account, project, uuid) DO UPDATE SET title = excluded.title"
)
DELETE_CONVERSATION = (
    "DELETE FROM history WHERE account = ? AND project = ? AND uuid = ?",
    "DELETE FROM conversation_titles WHERE account = ? AND project = ? AND uuid = ?",
)


def now_text() -> str:
    """Creation times as ISO 8601 text in UTC, microseconds, the same for every backend."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def history_rows(batch: HistoryBatch) -> list[tuple[Any, ...]]:
    """The ``history`` table's rows (HISTORY_COLUMNS) for a batch of turns."""
    now = now_text()
    return [
        (t.account, t.project, t.uuid, e.role, e.agent, e.text, e.cut, now, f"{t.key}:{i}")
        for t in batch
        for i, e in enumerate(t.entries)
    ]


HISTORY_COLUMNS = (
    "account",
    "project",
    "uuid",
    "role",
    "agent",
    "text",
    "cut",
    "created_at",
    "entry_key",
)


def future_schema_error(where: str, found: int, known: int) -> StoreError:
    """A store written by a newer server: refuse rather than misread or damage it."""
    return StoreError(
        f"the store at {where} has schema version {found}, but this server knows only up to "
        f"version {known}; it was written by a newer distiller-server. Upgrade this server "
        "(or point it at another store); nothing was changed."
    )


class Store(abc.ABC):
    """Project versions per account, and conversation history per user."""

    #: where the data lives, for messages (never contains a password)
    where: str = ""

    async def open(self) -> None:  # noqa: B027 - SQLite opens in its constructor
        """Connect and bring the schema up to date; raises StoreError saying why not."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def create_version(
        self, account: str, project: str, config: dict[str, Any]
    ) -> ProjectVersion:
        """Store ``config`` as the next version of ``project``; all or nothing, gapless."""

    async def get_version(
        self, account: str, project: str, version: int | None
    ) -> ProjectVersion | None:
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
        rows = await self._read(query, params)
        if not rows:
            return None
        row = rows[0]
        return ProjectVersion(account, project, row[0], json.loads(row[1]), row[2])

    async def list_projects(self, account: str) -> list[ProjectSummary]:
        rows = await self._read(
            "SELECT project, MAX(version), COUNT(*), MAX(created_at) FROM project_versions "
            "WHERE account=? GROUP BY project ORDER BY project",
            (account,),
        )
        return [ProjectSummary(r[0], r[1], r[2], r[3]) for r in rows]

    async def list_versions(self, account: str, project: str) -> list[ProjectVersion]:
        rows = await self._read(
            "SELECT version, config_json, created_at FROM project_versions "
            "WHERE account=? AND project=? ORDER BY version",
            (account, project),
        )
        return [ProjectVersion(account, project, r[0], json.loads(r[1]), r[2]) for r in rows]

    @abc.abstractmethod
    async def append_history_batch(self, batch: HistoryBatch) -> None:
        """Several users' turns in one transaction: one commit for many sessions."""

    async def recent_history(
        self, account: str, project: str, uuid: str, limit: int = 20
    ) -> list[HistoryEntry]:
        rows = await self._read(
            "SELECT role, agent, text, cut FROM history WHERE account=? AND project=? AND uuid=? "
            "ORDER BY id DESC LIMIT ?",
            (account, project, uuid, limit),
        )
        return [HistoryEntry(r[0], r[1], r[2], bool(r[3])) for r in reversed(rows)]

    # -- conversations (ours: the app lists, reopens, renames, deletes them) ---

    async def list_conversations(
        self, account: str, project: str, query: str = "", limit: int = 50, offset: int = 0
    ) -> list[ConversationSummary]:
        """Newest first; ``query`` matches the title or any words said (case-insensitive)."""
        pattern = f"%{query.lower()}%"
        rows = await self._read(
            "SELECT h.uuid, MIN(h.created_at), MAX(h.created_at), "
            "SUM(CASE WHEN h.role = 'user' THEN 1 ELSE 0 END), MAX(t.title), "
            "(SELECT f.text FROM history f WHERE f.account = ? AND f.project = ? "
            " AND f.uuid = h.uuid AND f.role = 'user' ORDER BY f.id LIMIT 1) "
            "FROM history h LEFT JOIN conversation_titles t ON "
            "(t.account = h.account AND t.project = h.project AND t.uuid = h.uuid) "
            "WHERE h.account = ? AND h.project = ? GROUP BY h.uuid "
            "HAVING ? = '' OR lower(MAX(coalesce(t.title, ''))) LIKE ? "
            " OR MAX(CASE WHEN lower(h.text) LIKE ? THEN 1 ELSE 0 END) = 1 "
            "ORDER BY MAX(h.id) DESC LIMIT ? OFFSET ?",
            (account, project, account, project, query, pattern, pattern, limit, offset),
        )
        return [
            ConversationSummary(r[0], r[4] or r[5] or "(no question yet)", r[1], r[2], int(r[3]))
            for r in rows
        ]

    async def conversation(self, account: str, project: str, uuid: str) -> list[HistoryEntry]:
        """Everything said in one conversation, in order."""
        rows = await self._read(
            "SELECT role, agent, text, cut FROM history WHERE account=? AND project=? AND uuid=? "
            "ORDER BY id",
            (account, project, uuid),
        )
        return [HistoryEntry(r[0], r[1], r[2], bool(r[3])) for r in rows]

    async def rename_conversation(self, account: str, project: str, uuid: str, title: str) -> bool:
        """False when there is no such conversation."""
        return await self._change_conversation(
            (account, project, uuid), [(RENAME_CONVERSATION, (account, project, uuid, title))]
        )

    async def delete_conversation(self, account: str, project: str, uuid: str) -> bool:
        """Remove its history and title; False when there is no such conversation."""
        key = (account, project, uuid)
        return await self._change_conversation(key, [(sql, key) for sql in DELETE_CONVERSATION])

    @abc.abstractmethod
    async def _change_conversation(
        self, key: tuple[str, str, str], statements: list[tuple[str, tuple[Any, ...]]]
    ) -> bool:
        """Run ``statements`` in one transaction if the conversation exists; whether it did."""

    @abc.abstractmethod
    async def _read(self, query: str, params: tuple[Any, ...]) -> Sequence[Sequence[Any]]:
        """The rows of a read-only query written with ``?`` placeholders."""

    async def append_history(
        self, account: str, project: str, uuid: str, entries: list[HistoryEntry]
    ) -> None:
        await self.append_history_batch([HistoryTurn(account, project, uuid, entries)])
