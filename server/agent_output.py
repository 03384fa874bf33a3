"""An agent's text, readable by several consumers while it is still being produced."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class AgentOutput:
    """Append-only text pieces with a completion flag.

    The presenter streams the pieces to the client, the speech track speaks
    them, and successor agents wait for the whole text: each reads at its own
    pace without copying the stream.
    """

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.pieces: list[str] = []
        self.done = False
        self.error: str | None = None
        self._changed = asyncio.Event()

    def append(self, piece: str) -> None:
        if piece:
            self.pieces.append(piece)
            self._wake()

    def finish(self, error: str | None = None) -> None:
        self.error = error
        self.done = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    async def wait_done(self) -> str:
        while not self.done:
            await self._changed.wait()
        return self.text

    async def changed(self, timeout: float) -> None:
        """Wait until a piece arrives or the agent finishes, at most ``timeout`` seconds."""
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def iterate(self) -> AsyncIterator[str]:
        """Every piece from the first, as they arrive, until the agent finishes."""
        index = 0
        while True:
            while index < len(self.pieces):
                yield self.pieces[index]
                index += 1
            if self.done:
                return
            await self._changed.wait()
