"""Conversation history written off the response path, many turns per transaction.

A session must not wait for a disk commit before answering its next query,
and hundreds of sessions must not queue behind one lock for a commit each.
Sessions hand their finished turns here; one task writes whatever has
gathered in a single transaction (SQLite on a worker thread, PostgreSQL
over its pool).
"""

from __future__ import annotations

import asyncio
import logging

from server.store import HistoryEntry, Store, StoreError

log = logging.getLogger(__name__)

Batch = list[tuple[str, str, str, list[HistoryEntry]]]


class HistoryWriter:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: Batch = []
        self._submitted = 0
        self._written = 0
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def submit(self, account: str, project: str, uuid: str, entries: list[HistoryEntry]) -> None:
        """Queue one turn for writing; returns at once."""
        self._pending.append((account, project, uuid, entries))
        self._submitted += 1
        self._wake.set()
        self.start()

    def start(self) -> None:
        """Start the writing task (at server start, or on first use)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="history-writer")

    async def flush(self) -> None:
        """Wait until every turn submitted so far is on disk (or has failed)."""
        target = self._submitted
        while self._written < target:
            self._progress.clear()
            await self._progress.wait()

    async def close(self, timeout: float = 10.0) -> None:
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            log.error("history writer: %d turn(s) not saved at shutdown", len(self._pending))
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                await self._store.append_history_batch(batch)
            except StoreError as exc:  # history is best effort; the answers were given
                log.error("could not save %d turn(s) of history: %s", len(batch), exc)
            self._written += len(batch)
            self._progress.set()
