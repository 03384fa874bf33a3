"""What the `Conversation` answers with: the actions its drivers carry out.

`Send` and the audio actions (`Play`, `DropAudio`) are for whoever owns the
socket and the speaker; the rest say what the conversation now looks like, for
whoever draws or prints it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from protocol.events import ClientEvent
from protocol.turns import AnswerState

__all__ = [
    "Action",
    "AgentEnded",
    "AgentStarted",
    "AgentText",
    "DropAudio",
    "ErrorReported",
    "Outcome",
    "Play",
    "ResponseEnded",
    "ResponseStarted",
    "Send",
    "TranscriptChanged",
    "TurnOpened",
    "TurnResent",
]

Outcome = Literal["done", "interrupted", "lost"]


@dataclass(frozen=True, slots=True)
class Send:
    """Send this frame to the server."""

    event: ClientEvent


@dataclass(frozen=True, slots=True)
class Play:
    """Hand this audio to the speaker; ``first`` marks a response's first audio."""

    audio: bytes
    turn_id: int
    role: str
    first: bool = False


@dataclass(frozen=True, slots=True)
class DropAudio:
    """Silence the speaker now: what it still holds must not be heard."""


@dataclass(frozen=True, slots=True)
class TurnOpened:
    turn_id: int
    query: str
    voice: bool


@dataclass(frozen=True, slots=True)
class TranscriptChanged:
    """The words heard so far for a spoken turn (the whole text each time)."""

    turn_id: int
    text: str
    final: bool


@dataclass(frozen=True, slots=True)
class TurnResent:
    """After a reconnect the question went to the server again (its answer was cut off)."""

    turn_id: int
    query: str


@dataclass(frozen=True, slots=True)
class ResponseStarted:
    turn_id: int


@dataclass(frozen=True, slots=True)
class AgentStarted:
    turn_id: int
    role: str


@dataclass(frozen=True, slots=True)
class AgentText:
    turn_id: int
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class AgentEnded:
    turn_id: int
    role: str
    state: AnswerState


@dataclass(frozen=True, slots=True)
class ResponseEnded:
    """The response is over: ``done``, ``interrupted`` (barge-in) or ``lost`` (connection)."""

    turn_id: int
    outcome: Outcome
    metadata: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorReported:
    """An ``error`` frame; ``turn_id`` is the turn being answered, if any."""

    turn_id: int | None
    message: str


Action = (
    Send
    | Play
    | DropAudio
    | TurnOpened
    | TranscriptChanged
    | TurnResent
    | ResponseStarted
    | AgentStarted
    | AgentText
    | AgentEnded
    | ResponseEnded
    | ErrorReported
)
