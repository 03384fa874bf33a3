"""What a response answers: the user's query and the plan of agent steps for it.

Small records shared by whoever makes queries (typed text in `server.session`,
speech in `server.voice_input`), whoever plans (`server.orchestrator`) and the
response that runs them (`server.response`), so none of these imports another
sideways for them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Step:
    """One agent of the plan, with the agents whose output it needs."""

    agent: str
    predecessors: tuple[str, ...] = ()


@dataclass(slots=True)
class Query:
    """A user's query: typed, or the transcript of a finished spoken turn."""

    text: str
    received_at: float  # monotonic time of the query's end (typed, or end of speech)
    asr_s: float | None = None
