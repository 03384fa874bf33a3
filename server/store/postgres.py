"""The PostgreSQL store (asyncpg): one database shared by any number of replicas.

Versions stay gapless and unique under concurrent creates from many replicas:
a per-project counter row is bumped with an upsert in the same transaction as
the version's insert, so the row lock orders creates and a rolled-back create
gives its number back. Migrations run at open under a transaction-scoped
advisory lock, so replicas starting together migrate once; a schema newer
than this server knows is refused before anything is touched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from server.store.records import (
    CONVERSATION_TITLES,
    ENTRY_KEYS,
    HISTORY_COLUMNS,
    HistoryBatch,
    ProjectVersion,
    Store,
    StoreError,
    StoreUnavailable,
    future_schema_error,
    history_rows,
    now_text,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATION_LOCK = 0x64697374  # "dist": one migrator at a time across replicas
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 15.0

# Migration N brings the schema from version N-1 to N. Never edit one that has shipped.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE project_counters (
        account      TEXT NOT NULL,
        project      TEXT NOT NULL,
        next_version INTEGER NOT NULL,
        PRIMARY KEY (account, project)
    );
    CREATE TABLE project_versions (
        account     TEXT NOT NULL,
        project     TEXT NOT NULL,
        version     INTEGER NOT NULL,
        config_json TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        PRIMARY KEY (account, project, version)
    );
    CREATE TABLE history (
        id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account    TEXT NOT NULL,
        project    TEXT NOT NULL,
        uuid       TEXT NOT NULL,
        role       TEXT NOT NULL,
        agent      TEXT NOT NULL DEFAULT '',
        text       TEXT NOT NULL,
        cut        BOOLEAN NOT NULL DEFAULT FALSE,
        created_at TEXT NOT NULL
    );
    CREATE INDEX history_by_user ON history (account, project, uuid, id);
    """,
    CONVERSATION_TITLES,
    ENTRY_KEYS,
]

# Errors that mean "the database is not there right now", as opposed to a bad request.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.InterfaceError,
)


def numbered(query: str) -> str:
    """The shared queries use ``?``; PostgreSQL wants ``$1, $2, ...``."""
    parts = query.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresStore(Store):
    """Project versions and history in PostgreSQL, through a small connection pool."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.where = redacted(url)
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.pool_size,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=COMMAND_TIMEOUT_S,
            )
        except asyncpg.InvalidAuthorizationSpecificationError as exc:
            raise StoreError(f"the database at {self.where} refused the login: {exc}") from exc
        except asyncpg.InvalidCatalogNameError as exc:
            raise StoreError(f"the database at {self.where} does not exist: {exc}") from exc
        except UNAVAILABLE as exc:
            raise StoreUnavailable(
                f"cannot reach the database at {self.where}: {exc or type(exc).__name__}"
            ) from exc
        except (asyncpg.PostgresError, ValueError) as exc:
            raise StoreError(f"cannot open the database at {self.where}: {exc}") from exc
        try:
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def _migrate(self) -> None:
        async def run(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
                )
                found = await conn.fetchval("SELECT MAX(version) FROM schema_version") or 0
                if found > len(MIGRATIONS):
                    raise future_schema_error(self.where, found, len(MIGRATIONS))
                for number in range(found + 1, len(MIGRATIONS) + 1):
                    await conn.execute(MIGRATIONS[number - 1])
                    await conn.execute("INSERT INTO schema_version VALUES ($1)", number)
                    log.info("store %s: migrated to schema version %d", self.where, number)

        await self._with_connection(run, "prepare the schema")

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await pool.close()
            except UNAVAILABLE:
                pool.terminate()

    # -- projects ----------------------------------------------------------

    async def create_version(
        self, account: str, project: str, config: dict[str, Any]
    ) -> ProjectVersion:
        config_json = json.dumps(config, separators=(",", ":"), ensure_ascii=False)
        created_at = now_text()

        async def run(conn: asyncpg.Connection) -> int:
            async with conn.transaction():
                version = await conn.fetchval(
                    "INSERT INTO project_counters VALUES ($1, $2, 1) "
                    "ON CONFLICT (account, project) DO UPDATE "
                    "SET next_version = project_counters.next_version + 1 "
                    "RETURNING next_version - 1",
                    account,
                    project,
                )
                await conn.execute(
                    "INSERT INTO project_versions VALUES ($1, $2, $3, $4, $5)",
                    account,
                    project,
                    version,
                    config_json,
                    created_at,
                )
                return version

        version = await self._with_connection(run, f"save project '{project}'")
        return ProjectVersion(account, project, version, config, created_at)

    # -- history -----------------------------------------------------------

    async def append_history_batch(self, batch: HistoryBatch) -> None:
        rows = history_rows(batch)

        columns = ", ".join(HISTORY_COLUMNS)

        async def run(conn: asyncpg.Connection) -> None:
            # COPY is the fast path but cannot skip duplicates, so it fills a scratch
            # table and one INSERT moves the rows a lost acknowledgement did not store.
            async with conn.transaction():
                await conn.execute(
                    "CREATE TEMP TABLE incoming_history "
                    "(LIKE history INCLUDING DEFAULTS INCLUDING IDENTITY) ON COMMIT DROP"
                )
                await conn.copy_records_to_table(
                    "incoming_history", records=rows, columns=list(HISTORY_COLUMNS)
                )
                await conn.execute(
                    f"INSERT INTO history ({columns}) SELECT {columns} FROM incoming_history "
                    "ORDER BY id ON CONFLICT (entry_key) DO NOTHING"
                )

        await self._with_connection(run, "save history")

    async def _change_conversation(
        self, key: tuple[str, str, str], statements: list[tuple[str, tuple[Any, ...]]]
    ) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            async with conn.transaction():
                exists = await conn.fetchval(
                    "SELECT 1 FROM history WHERE account = $1 AND project = $2 AND uuid = $3 "
                    "LIMIT 1",
                    *key,
                )
                for sql, params in statements if exists else ():
                    await conn.execute(numbered(sql), *params)
                return exists is not None

        return await self._with_connection(run, f"change conversation {key[2]}")

    # -- helpers -----------------------------------------------------------

    async def _read(self, query: str, params: tuple[Any, ...]) -> list[asyncpg.Record]:
        query = numbered(query)
        return await self._with_connection(
            lambda conn: conn.fetch(query, *params), "read the store"
        )

    async def _with_connection(
        self, work: Callable[[asyncpg.Connection], Awaitable[T]], what: str
    ) -> T:
        """Run ``work`` on a pooled connection; database errors become StoreErrors."""
        if self._pool is None:
            raise StoreUnavailable(f"could not {what}: the store at {self.where} is not open")
        try:
            async with self._pool.acquire(timeout=COMMAND_TIMEOUT_S) as conn:
                return await work(conn)
        except StoreError:
            raise
        except UNAVAILABLE as exc:
            raise StoreUnavailable(
                f"could not {what}: the database at {self.where} is unreachable "
                f"({exc or type(exc).__name__})"
            ) from exc
        except asyncpg.PostgresError as exc:
            raise StoreError(f"could not {what}: {exc}") from exc
        except asyncpg.exceptions.InternalClientError as exc:  # e.g. a connection cut mid-COPY
            raise StoreUnavailable(
                f"could not {what}: the connection to {self.where} broke ({exc})"
            ) from exc
