"""Who is connected: at most one live session per (account, project, uuid).

On one process (the SQLite default) a dict of live sessions is enough. Behind
a load balancer the same user may reach any replica, so the PostgreSQL mode
also holds a session-level advisory lock per live user in the database.

Why advisory locks and not a lease with heartbeats: the database releases a
lock the moment the holder's connection ends, so a killed replica frees its
users as soon as its TCP connection closes (milliseconds when the process
dies; TCP keepalives bound it when the host vanishes), with no clock, no
sweeper and no writes while users merely stay connected. A lease would lock
users out for its whole TTL after a crash and rewrite every row each beat.
Locks belong to a connection, and one connection per session would need 500
connections per replica, so each replica keeps ONE presence connection that
holds all its users' locks (a connection may hold any number of them).

If that connection drops (the database restarts), every lock is gone: the
sessions are told and keep running; the replica reconnects, takes the locks
back, and ends any session whose user meanwhile connected elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # account, project, uuid
RECONNECT_GRACE_S = 1.0  # how long a new connection waits for the user's old one to end
RETRY_S = 1.0  # how often a lost presence connection is retried
KEEPALIVE = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}


@dataclass(slots=True)
class Holder:
    """What presence needs from a live session: a way to tell it things, and to end it."""

    tell: Callable[[str], Awaitable[None]]
    end: Callable[[], Awaitable[None]]
    busy: Callable[[], bool]  # is a response running (drain waits for these)


class PresenceUnavailable(RuntimeError):
    """Presence cannot be decided (the database is unreachable); try again shortly."""


class LocalPresence:
    """Live sessions of this process."""

    def __init__(self) -> None:
        self.live: dict[Key, asyncio.Event] = {}
        self.holders: dict[Key, Holder] = {}

    async def open(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release."""

    async def claim(self, key: Key) -> bool:
        """Register ``key`` as live; False if another connection of the user stays live.

        A client that reconnects right after leaving may arrive while its old
        session is still being torn down; that one gets a moment to finish.
        """
        while key in self.live:
            try:
                await asyncio.wait_for(asyncio.shield(self.live[key].wait()), RECONNECT_GRACE_S)
            except TimeoutError:
                return False
        self.live[key] = asyncio.Event()
        return True

    def attach(self, key: Key, holder: Holder) -> None:
        self.holders[key] = holder

    async def release(self, key: Key) -> None:
        self.holders.pop(key, None)
        ended = self.live.pop(key, None)
        if ended is not None:
            ended.set()

    def busy_sessions(self) -> int:
        return sum(1 for h in self.holders.values() if h.busy())

    async def tell_all(self, message: str) -> None:
        for holder in list(self.holders.values()):
            with contextlib.suppress(Exception):
                await holder.tell(message)


def lock_id(key: Key) -> int:
    """A stable signed 64-bit advisory-lock id for a user (collisions: ~n²/2⁶⁴)."""
    digest = hashlib.blake2b("\x00".join(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class DatabasePresence(LocalPresence):
    """Live sessions across replicas: advisory locks on one connection per replica."""

    def __init__(self, url: str, where: str) -> None:
        super().__init__()
        self.url = url
        self.where = where
        self._conn: Any = None
        self._lock = asyncio.Lock()  # one query at a time on the presence connection
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False

    async def open(self) -> None:
        await self._connect()

    async def _connect(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url, timeout=5.0, server_settings=KEEPALIVE)
        conn.add_termination_listener(self._lost)
        self._conn = conn

    async def close(self) -> None:
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 2.0)

    async def claim(self, key: Key) -> bool:
        if not await super().claim(key):
            return False
        if self._conn is None or self._conn.is_closed():
            await super().release(key)
            raise PresenceUnavailable(f"the database at {self.where} is unreachable")
        deadline = asyncio.get_running_loop().time() + RECONNECT_GRACE_S
        try:
            while not await self._try_lock(key):
                # Held by another replica: its session may be ending; give it the grace.
                if asyncio.get_running_loop().time() >= deadline:
                    await super().release(key)
                    return False
                await asyncio.sleep(0.1)
        except Exception as exc:
            await super().release(key)
            raise PresenceUnavailable(
                f"the database at {self.where} is unreachable ({exc or type(exc).__name__})"
            ) from exc
        return True

    async def release(self, key: Key) -> None:
        await super().release(key)
        if self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(Exception):
                async with self._lock:
                    await self._conn.execute("SELECT pg_advisory_unlock($1)", lock_id(key))

    async def _try_lock(self, key: Key) -> bool:
        async with self._lock:
            return bool(await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_id(key)))

    # -- the presence connection was lost -------------------------------------

    def _lost(self, _conn: Any) -> None:
        if self._closed or (self._reconnecting is not None and not self._reconnecting.done()):
            return
        log.error("presence: lost the database connection to %s", self.where)
        self._reconnecting = asyncio.get_event_loop().create_task(self._recover())

    async def _recover(self) -> None:
        await self.tell_all(
            f"the database at {self.where} is unreachable: this conversation goes on, its "
            "history is saved when the database returns"
        )
        while not self._closed:
            try:
                await self._connect()
                break
            except Exception as exc:  # still down; keep trying
                log.warning("presence: %s still unreachable: %s", self.where, exc)
                await asyncio.sleep(RETRY_S)
        log.info("presence: reconnected to %s; taking %d lock(s) back", self.where, len(self.live))
        for key in list(self.live):
            try:
                mine = await self._try_lock(key)
            except Exception:  # lost again; the next recovery retries
                return
            holder = self.holders.get(key)
            if holder is None:
                continue
            with contextlib.suppress(Exception):
                if mine:
                    await holder.tell(f"the database at {self.where} is back")
                else:  # the user connected elsewhere while we could not tell
                    await holder.end()
