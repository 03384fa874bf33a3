"""The session controller: one conversation, kept alive across connections.

It runs inside a Textual worker and owns the `Conversation` (the one place a
response is decided, protocol/conversation.py) and the SDK sessions that carry
it. The UI calls its non-blocking methods (`ask`, `skip`, `mic_chunk` …); each
asks the conversation, queues the frames it answers with, and posts what
changed as one `ConversationChanged` message. Audio actions go straight to the
speaker, not through the UI. When the connection drops it says so, reconnects
with backoff to the same uuid, and the conversation asks again whatever was
not wholly answered, so nothing typed is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from textual.message import Message

from app.messages import ConversationChanged, SessionFailed, SessionState
from protocol.client import AsyncDistillerClient, RealtimeSession
from protocol.client.errors import (
    AuthenticationError,
    ConnectionLostError,
    DistillerError,
    ProjectNotFoundError,
    ServerUnreachableError,
    UserAlreadyConnectedError,
)
from protocol.conversation import Action, Conversation, DropAudio, Play, Send
from protocol.events import ClientEvent

BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits between reconnect attempts; the last repeats until it works."""


@dataclass(frozen=True)
class SessionTarget:
    project: str
    version: int | None
    uuid: str


class Speaker(Protocol):
    """Where `Play` and `DropAudio` go (the app's audio link)."""

    def play(self, pcm: bytes) -> None: ...
    def drop_playback(self) -> None: ...


SessionOpener = Callable[[SessionTarget, Conversation], RealtimeSession]


class SessionController:
    """Connects, carries out the conversation's actions, reconnects; see the module docstring."""

    def __init__(
        self,
        open_session: SessionOpener,
        target: SessionTarget,
        post: Callable[[Message], object],
        *,
        speaker: Speaker | None = None,
        conversation: Conversation | None = None,
        backoff: tuple[float, ...] = BACKOFF_SECONDS,
    ) -> None:
        self._open_session = open_session
        self.target = target
        self._post_message = post
        self.speaker = speaker
        self._backoff = backoff
        self.conversation = conversation if conversation is not None else Conversation()
        self._outbox: asyncio.Queue[ClientEvent] = asyncio.Queue()
        self._stopped = asyncio.Event()
        self._session: RealtimeSession | None = None

    # ---- called by the UI (never blocks) ----------------------------------

    def ask(self, text: str) -> None:
        self._carry_out(self.conversation.ask(text))

    def skip(self) -> None:
        self._carry_out(self.conversation.skip())

    def mic_chunk(self, chunk: bytes) -> None:
        if self.connected:  # mic audio is only worth sending live
            self._carry_out(self.conversation.mic_audio(chunk))

    def commit_audio(self) -> None:
        if self.connected:
            self._carry_out(self.conversation.commit())

    def playback(self, sounding: bool) -> None:
        conversation = self.conversation
        self._carry_out(
            conversation.playback_started() if sounding else conversation.playback_stopped()
        )

    def stop(self) -> None:
        self._stopped.set()

    @property
    def connected(self) -> bool:
        return self._session is not None and self._session.connected

    def _post(self, message: Message) -> None:
        """Post, tagged with this controller so the app can ignore a replaced session's news."""
        message.controller = self  # type: ignore[attr-defined]
        self._post_message(message)

    def _carry_out(self, actions: Iterable[Action]) -> None:
        """Frames to the outbox, audio to the speaker, the rest to the UI."""
        shown: list[Action] = []
        for action in actions:
            if isinstance(action, Send):
                self._outbox.put_nowait(action.event)
            elif isinstance(action, Play):
                if self.speaker is not None:
                    self.speaker.play(action.audio)
                if action.first:
                    shown.append(action)  # the UI times the first audio
            elif isinstance(action, DropAudio):
                if self.speaker is not None:
                    self.speaker.drop_playback()
            else:
                shown.append(action)
        if shown:
            self._post(ConversationChanged(tuple(shown)))

    # ---- the worker --------------------------------------------------------

    async def run(self) -> None:
        """Stay connected until `stop`; returns after a fatal error was posted."""
        attempt = 0
        while not self._stopped.is_set():
            self._post(SessionState("connecting" if attempt == 0 else "reconnecting"))
            try:
                await self._run_once()
                attempt = 0
                if self._stopped.is_set():
                    break
                raise ConnectionLostError(None, "the session ended")
            except (AuthenticationError, ProjectNotFoundError) as exc:
                self._post(SessionFailed(str(exc)))
                return
            except UserAlreadyConnectedError as exc:
                if attempt == 0:
                    self._post(SessionFailed(str(exc)))
                    return
                detail = str(exc)
            except (ConnectionLostError, ServerUnreachableError, OSError, TimeoutError) as exc:
                detail = str(exc) or type(exc).__name__
            except DistillerError as exc:  # an error frame at connect: unknown project, …
                self._post(SessionFailed(str(exc)))
                return
            finally:
                self._session = None
            if self._stopped.is_set():
                break
            wait = self._backoff[min(attempt, len(self._backoff) - 1)]
            attempt += 1
            self._post(SessionState("lost", f"{detail}; retrying in {wait:g} s"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), wait)
        self._post(SessionState("offline"))

    async def _run_once(self) -> None:
        async with self._open_session(self.target, self.conversation) as session:
            self._session = session
            # Our engine says in session.created whether it will speak; other
            # servers do not, so a speech_config in the project is the fallback.
            announced = session.session_info.get("speech")
            speech = (
                announced
                if isinstance(announced, bool)
                else isinstance(session.project_config.get("speech_config"), dict)
            )
            version = session.session_info.get("project_version")
            self._post(
                SessionState(
                    "connected",
                    sample_rate=session.sample_rate,
                    speech=speech,
                    version=version if isinstance(version, int) else None,
                )
            )
            sender = asyncio.create_task(self._send_loop(session))
            try:
                async for update in session.updates():
                    self._carry_out(update.actions)
                    if self._stopped.is_set():
                        break
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, DistillerError):
                    await sender
                # Frames meant for this connection mean nothing on the next; the
                # conversation asks again what was not answered.
                self._outbox = asyncio.Queue()

    async def _send_loop(self, session: RealtimeSession) -> None:
        while True:
            event = await self._outbox.get()
            try:
                await session.send_event(event)
            except (ConnectionLostError, RuntimeError):
                return  # the reader reports the loss; the conversation re-asks on reconnect


def session_opener(client: AsyncDistillerClient, executor_dict: Mapping[str, Any]) -> SessionOpener:
    """Binds an SDK client and the app's custom agents into the controller's opener."""

    def open_session(target: SessionTarget, conversation: Conversation) -> RealtimeSession:
        return client.realtime_distiller(
            project=target.project,
            uuid=target.uuid,
            executor_dict=dict(executor_dict),
            project_version=target.version,
            conversation=conversation,
        )

    return open_session
