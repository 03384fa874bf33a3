"""Textual messages the app's workers post to it.

Workers own the network and the engine; the UI only reacts to these, so it
never awaits a socket.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.message import Message

from protocol.client import AsyncDistillerClient
from protocol.conversation import Action


class ConversationChanged(Message):
    """What the conversation's latest events and intents changed, in order."""

    def __init__(self, actions: tuple[Action, ...]) -> None:
        super().__init__()
        self.actions = actions


class SessionState(Message):
    """The connection changed: connecting, connected, reconnecting, lost, offline."""

    def __init__(
        self,
        state: str,
        detail: str = "",
        *,
        sample_rate: int | None = None,
        speech: bool = False,
        version: int | None = None,
    ) -> None:
        super().__init__()
        self.state = state
        self.detail = detail
        self.sample_rate = sample_rate
        self.speech = speech
        self.version = version
        """The project version the engine actually serves (``latest`` resolved)."""


class SessionFailed(Message):
    """The session cannot continue (bad key, unknown project, …); says why."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class EngineReady(Message):
    """The engine answers: here is the client to reach it."""

    def __init__(self, client: AsyncDistillerClient, embedded: bool) -> None:
        super().__init__()
        self.client = client
        self.embedded = embedded


class EngineFailed(Message):
    """No engine to talk to; says why."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class ModelStates(Message):
    """The embedded engine's model load states (``/healthz``)."""

    def __init__(self, states: Mapping[str, str]) -> None:
        super().__init__()
        self.states = dict(states)


class LatencyMeasured(Message):
    """Seconds from the user's question (or end of recording) to the answer's first audio."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds


class AudioChanged(Message):
    """The sound device in use, or why there is none (text only)."""

    def __init__(
        self,
        device: str | None,
        text_only_reason: str | None,
        *,
        echo_cancellation: bool = False,
        echo_detail: str = "",
    ) -> None:
        super().__init__()
        self.device = device
        self.text_only_reason = text_only_reason
        self.echo_cancellation = echo_cancellation
        self.echo_detail = echo_detail  # the canceller's own status ("off: <why>")


class HandsFreeChanged(Message):
    """Hands-free mode went on or off; ``barge_in``: the engine lets the user interrupt."""

    def __init__(self, on: bool, *, barge_in: bool) -> None:
        super().__init__()
        self.on = on
        self.barge_in = barge_in


class ActivityChanged(Message):
    """The conversation is listening, thinking, answering, or idle (``""``)."""

    def __init__(self, activity: str) -> None:
        super().__init__()
        self.activity = activity
