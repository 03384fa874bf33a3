"""What a conversation holds: turns (a question each) and the agents' answers to them.

Plain records the `Conversation` state machine (protocol/conversation.py) keeps
and updates; exports and views read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Answer", "AnswerState", "Turn", "TurnStatus"]

AnswerState = Literal["streaming", "done", "skipped", "interrupted", "cut off"]
TurnStatus = Literal["listening", "unsent", "waiting", "answering", "done", "interrupted"]


@dataclass
class Answer:
    """One agent's part of a response."""

    role: str
    text: str = ""
    state: AnswerState = "streaming"
    heard: bool = False
    """Some of its audio was handed to the speaker."""


@dataclass
class Turn:
    """One question (typed or spoken) and the agents' answers to it."""

    id: int
    query: str
    voice: bool = False
    status: TurnStatus = "unsent"
    answers: list[Answer] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    asked: int = 0
    """How many times the question went to a server (more than once after a reconnect)."""
    response_start: int = 0
    """Index of the first answer of the latest response (earlier ones were cut off)."""

    @property
    def current(self) -> Answer | None:
        """The latest response's current agent."""
        return self.answers[-1] if len(self.answers) > self.response_start else None
