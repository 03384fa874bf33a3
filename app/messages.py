"""Textual messages the session worker posts to the app.

The worker owns the network; the UI only ever reacts to these, so it never
awaits a socket.
"""

from __future__ import annotations

from textual.message import Message

from protocol.events import ServerEvent


class SessionEvent(Message):
    """One server event of the live session."""

    def __init__(self, event: ServerEvent) -> None:
        super().__init__()
        self.event = event


class SessionState(Message):
    """The connection changed: connecting, connected, reconnecting, lost, offline."""

    def __init__(
        self, state: str, detail: str = "", *, sample_rate: int | None = None, speech: bool = False
    ) -> None:
        super().__init__()
        self.state = state
        self.detail = detail
        self.sample_rate = sample_rate
        self.speech = speech


class SessionFailed(Message):
    """The session cannot continue (bad key, unknown project, …); says why."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class QueryResent(Message):
    """After a reconnect, a query whose answer never finished is sent again."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
