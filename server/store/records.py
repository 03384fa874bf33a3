"""What every store backend stores and returns, and the one interface they share.

The server only ever talks to `Store`; SQLite (one process, the default) and
PostgreSQL (many replicas) implement it. Methods are coroutines so that a
network database needs no thread per call; SQLite runs its calls on a worker
thread behind the same interface.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


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


HistoryBatch = list[tuple[str, str, str, list[HistoryEntry]]]


def now_text() -> str:
    """Creation times as ISO 8601 text in UTC, microseconds, the same for every backend."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


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

    @abc.abstractmethod
    async def get_version(
        self, account: str, project: str, version: int | None
    ) -> ProjectVersion | None:
        """A stored version, the latest when ``version`` is None; None if absent."""

    @abc.abstractmethod
    async def list_projects(self, account: str) -> list[ProjectSummary]: ...

    @abc.abstractmethod
    async def list_versions(self, account: str, project: str) -> list[ProjectVersion]: ...

    @abc.abstractmethod
    async def append_history_batch(self, batch: HistoryBatch) -> None:
        """Several users' turns in one transaction: one commit for many sessions."""

    @abc.abstractmethod
    async def recent_history(
        self, account: str, project: str, uuid: str, limit: int = 20
    ) -> list[HistoryEntry]: ...

    async def append_history(
        self, account: str, project: str, uuid: str, entries: list[HistoryEntry]
    ) -> None:
        await self.append_history_batch([(account, project, uuid, entries)])
