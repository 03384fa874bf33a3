"""A session's outgoing frames: bounded in bytes, and withdrawable by agent for a skip."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field


class SessionClosed(Exception):
    """Raised into senders once the session has begun closing."""


@dataclass(slots=True)
class Outbox:
    """Outgoing frames with a byte bound; frames tagged by agent can be withdrawn."""

    limit_bytes: int
    _frames: deque[tuple[str, str | None]] = field(default_factory=deque)
    _bytes: int = 0
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def put(self, frame: str, tag: str | None) -> bool:
        """Queue a frame; False if the bound is exceeded (the reader is not keeping up)."""
        if self.closed:
            raise SessionClosed
        self._frames.append((frame, tag))
        self._bytes += len(frame)
        self._ready.set()
        return self._bytes <= self.limit_bytes

    def clear(self) -> None:
        self._frames.clear()
        self._bytes = 0

    def withdraw(self, tag: str) -> int:
        """Drop every queued frame carrying ``tag``; returns how many were dropped."""
        kept = deque(item for item in self._frames if item[1] != tag)
        dropped = len(self._frames) - len(kept)
        self._frames = kept
        self._bytes = sum(len(f) for f, _ in kept)
        return dropped

    async def get(self) -> tuple[str, str | None]:
        """The next frame and its tag, waiting for one."""
        while not self._frames:
            self._ready.clear()
            await self._ready.wait()
        frame, tag = self._frames.popleft()
        self._bytes -= len(frame)
        return frame, tag
