"""Conversation history written off the response path, many turns per transaction.

A session must not wait for a commit before answering its next query, and
hundreds of sessions must not queue behind one lock for a commit each.
Sessions hand their finished turns here; one task writes whatever has
gathered in a single transaction (SQLite on a worker thread, PostgreSQL over
its pool). While the database is unreachable the turns are kept (up to a
bound) and written when it returns, so an outage loses no history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from server.store import (
    HistoryBatch,
    HistoryEntry,
    HistoryTurn,
    Store,
    StoreError,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

RETRY_S = 1.0  # how often an unreachable database is tried again
FLUSH_WAIT_S = 5.0  # how long a starting session waits for earlier turns to be stored
MAX_KEPT_TURNS = 100_000  # turns kept in memory during an outage; older ones are dropped


class HistoryWriter:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: HistoryBatch = []
        self._submitted = 0
        self._written = 0
        self.unavailable = False  # the last write found the database unreachable
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def submit(self, account: str, project: str, uuid: str, entries: list[HistoryEntry]) -> None:
        """Queue one turn for writing; returns at once."""
        self._pending.append(HistoryTurn(account, project, uuid, entries))
        self._submitted += 1
        self._wake.set()
        self.start()

    def start(self) -> None:
        """Start the writing task (at server start, or on first use)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="history-writer")

    async def flush(self, timeout: float = FLUSH_WAIT_S) -> None:
        """Wait until every turn submitted so far is stored, or failed, or must wait for
        an unreachable database; at most ``timeout`` (a new session never hangs on it)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drain(stop_when_unavailable=True), timeout)

    def _running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def close(self, timeout: float = 10.0) -> None:
        try:
            await asyncio.wait_for(self._drain(), timeout)
        except TimeoutError:
            log.error("history writer: %d turn(s) not saved at shutdown", len(self._pending))
        if self._task is not None:
            self._task.cancel()

    async def _drain(self, *, stop_when_unavailable: bool = False) -> None:
        target = self._submitted
        while self._written < target and self._running():
            if stop_when_unavailable and self.unavailable:
                return
            self._progress.clear()
            await self._progress.wait()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                await self._store.append_history_batch(batch)
            except StoreUnavailable as exc:
                self._keep(batch, exc)
                continue
            except StoreError as exc:  # history is best effort; the answers were given
                log.error("could not save %d turn(s) of history: %s", len(batch), exc)
            except Exception:  # a driver failure must not stop every later write
                log.exception("could not save %d turn(s) of history", len(batch))
            if self.unavailable:
                log.warning("history writer: the database is back; saved %d turn(s)", len(batch))
            self.unavailable = False
            self._written += len(batch)
            self._progress.set()

    def _keep(self, batch: HistoryBatch, exc: StoreError) -> None:
        """Put the batch back in front and try again shortly."""
        if not self.unavailable:
            log.error("history writer: %s; keeping turns until it returns", exc)
        self.unavailable = True
        self._pending = batch + self._pending
        dropped = len(self._pending) - MAX_KEPT_TURNS
        if dropped > 0:
            log.error("history writer: outage too long; dropping %d oldest turn(s)", dropped)
            del self._pending[:dropped]
            self._written += dropped
        self._progress.set()
        asyncio.get_running_loop().call_later(RETRY_S, self._wake.set)
