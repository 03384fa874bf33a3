"""An answer begun before its spoken turn is known to be over, and the counts of them.

When the end-of-turn detector calls a pause's draft complete before the pause
has confirmed it, the session starts answering at once but shows nothing
(`RealtimeSession.prepare`): the turn either ends with the same words (the
answer is released, its first audio ready) or the user speaks on (it is dropped
unseen). This module holds that answer's handle and settles it exactly once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from server.query import Query


@dataclass(slots=True)
class PreparedAnswers:
    """Answers begun before their turn ended (process-wide, for /healthz): how many were
    shown, and how many were dropped because the user went on speaking."""

    started: int = 0
    shown: int = 0
    dropped: int = 0

    def status(self) -> dict[str, int]:
        return {"started": self.started, "shown": self.shown, "dropped": self.dropped}


PREPARED_ANSWERS = PreparedAnswers()


@dataclass(slots=True)
class PreparedAnswer:
    """A spoken turn that is probably over, answered ahead and held back until confirmed."""

    query: Query
    go: asyncio.Future[bool]  # True: the turn ended with these words; False: abandon

    @classmethod
    def begin(cls, query: Query) -> PreparedAnswer:
        PREPARED_ANSWERS.started += 1
        return cls(query, asyncio.get_running_loop().create_future())


def settle(prepared: PreparedAnswer | None, *, shown: bool) -> None:
    """Release (``shown``) or drop an answer begun ahead of its turn, and count which."""
    if prepared is None or prepared.go.done():
        return
    prepared.go.set_result(shown)
    if shown:
        PREPARED_ANSWERS.shown += 1
    else:
        PREPARED_ANSWERS.dropped += 1
