"""Durable state behind one interface: SQLite (default, one process) or PostgreSQL.

``open_store`` picks the backend from a URL (``--store`` / ``DISTILLER_STORE_URL``):
``sqlite:///path/to/dir-or-file.sqlite3`` or ``postgresql://user@host/db``
(credentials from the URL or the standard ``PG*`` variables). Without a URL the
SQLite file in the data dir is used, as always.
"""

from __future__ import annotations

from pathlib import Path

from server.store.records import (
    ConversationSummary,
    HistoryBatch,
    HistoryEntry,
    HistoryTurn,
    ProjectSummary,
    ProjectVersion,
    Store,
    StoreError,
    StoreUnavailable,
)
from server.store.sqlite import SqliteStore

__all__ = [
    "ConversationSummary",
    "HistoryBatch",
    "HistoryEntry",
    "HistoryTurn",
    "ProjectSummary",
    "ProjectVersion",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "make_store",
    "store_url_problem",
]

POSTGRES_SCHEMES = ("postgresql", "postgres")


def store_url_problem(url: str) -> str | None:
    """Why ``url`` cannot name a store, or None if it can."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return f"store URL {url!r} has no scheme; use sqlite:///DIR or postgresql://HOST/DB"
    if scheme == "sqlite":
        return None if rest.startswith("/") else "a sqlite store URL needs a path: sqlite:///DIR"
    if scheme in POSTGRES_SCHEMES:
        return None
    return (
        f"unknown store scheme {scheme!r} in the store URL; use sqlite:///DIR or "
        "postgresql://USER@HOST:PORT/DB"
    )


def make_store(url: str | None, data_dir: Path) -> Store:
    """The store named by ``url`` (not yet opened), or the data dir's SQLite file."""
    if not url:
        return SqliteStore(data_dir)
    problem = store_url_problem(url)
    if problem:
        raise StoreError(problem)
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite":
        path = Path(rest)
        return SqliteStore(path.parent if path.suffix == ".sqlite3" else path)
    from server.store.postgres import PostgresStore  # asyncpg only when asked for

    return PostgresStore(url)
