"""The session's stream of updates: each server event with what the conversation made of it.

One reader fills it; consumers (``updates()``, ``events()``, the voice player,
the app) drain it. It ends for every consumer once the connection is over,
raising the error that ended it, if any.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from protocol.conversation import Action
from protocol.events import Error, ServerEvent

__all__ = ["Update", "UpdateStream"]

_CLOSED = object()  # queued once the connection is over


@dataclass(frozen=True, slots=True)
class Update:
    """A server event and what the conversation makes of it (``event`` None: connection lost)."""

    event: ServerEvent | None
    actions: tuple[Action, ...]


class UpdateStream:
    """A queue of `Update` that closes once, with an optional error."""

    def __init__(self, error: Callable[[], BaseException | None]) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._error = error

    def put(self, update: Update) -> None:
        self._queue.put_nowait(update)

    def close(self) -> None:
        self._queue.put_nowait(_CLOSED)

    async def __aiter__(self) -> AsyncIterator[Update]:
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                self._queue.put_nowait(_CLOSED)  # every later reader ends too
                if (error := self._error()) is not None:
                    raise error
                return
            assert isinstance(item, Update)
            yield item

    def discard_pending(self) -> None:
        """Drop updates left from an earlier exchange (errors and the end stay)."""
        kept = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _CLOSED or (isinstance(item, Update) and isinstance(item.event, Error)):
                kept.append(item)
        for item in kept:
            self._queue.put_nowait(item)
