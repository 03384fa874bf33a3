"""The session runner: owns one realtime WebSocket session through the SDK.

It runs inside a Textual worker. The UI hands it commands with non-blocking
calls (``send_text``, ``cancel`` …) that only queue; the runner sends them and
posts a message for every server event. When the connection drops it says so,
reconnects with backoff to the same uuid, and sends again whatever the user
typed that had not been answered, so nothing typed is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from textual.message import Message

from app.messages import QueryResent, SessionEvent, SessionFailed, SessionState
from protocol.client.errors import (
    AuthenticationError,
    ConnectionLostError,
    DistillerError,
    ProjectNotFoundError,
    ServerUnreachableError,
    UserAlreadyConnectedError,
)
from protocol.events import ExecutorRequest, ResponseDone, ResponseInterrupted

BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits between reconnect attempts; the last repeats until it works."""


@dataclass(frozen=True)
class SessionTarget:
    project: str
    version: int | None
    uuid: str


@dataclass(frozen=True)
class _Command:
    kind: str  # "text", "cancel", "audio", "commit", "playback_started", "playback_stopped"
    payload: Any = None


class SessionRunner:
    """Connects, forwards events as messages, reconnects; see the module docstring."""

    def __init__(
        self,
        open_session: Callable[[SessionTarget], Any],
        target: SessionTarget,
        post: Callable[[Message], object],
        *,
        backoff: tuple[float, ...] = BACKOFF_SECONDS,
    ) -> None:
        self._open_session = open_session
        self.target = target
        self._post_message = post
        self._backoff = backoff
        self._outbox: deque[_Command] = deque()
        self._wakeup = asyncio.Event()
        self._stopped = False
        self._unanswered: str | None = None
        self._session: Any = None

    # ---- called by the UI (never blocks) ----------------------------------

    def send_text(self, text: str) -> None:
        self._queue(_Command("text", text))

    def cancel(self) -> None:
        self._queue(_Command("cancel"))

    def send_audio(self, chunk: bytes) -> None:
        if self.connected:  # mic audio is only worth sending live
            self._queue(_Command("audio", chunk))

    def commit_audio(self) -> None:
        self._queue(_Command("commit"))

    def playback(self, started: bool) -> None:
        self._queue(_Command("playback_started" if started else "playback_stopped"))

    def stop(self) -> None:
        self._stopped = True
        self._wakeup.set()

    @property
    def connected(self) -> bool:
        return self._session is not None and bool(getattr(self._session, "connected", False))

    @property
    def pending_texts(self) -> list[str]:
        """Typed queries not yet sent (kept across reconnects)."""
        return [c.payload for c in self._outbox if c.kind == "text"]

    def _post(self, message: Message) -> None:
        """Post, tagged with this runner so the app can ignore a replaced session's news."""
        message.runner = self  # type: ignore[attr-defined]
        self._post_message(message)

    def _queue(self, command: _Command) -> None:
        self._outbox.append(command)
        self._wakeup.set()

    # ---- the worker --------------------------------------------------------

    async def run(self) -> None:
        """Stay connected until `stop`; returns after a fatal error was posted."""
        attempt = 0
        while not self._stopped:
            self._post(SessionState("connecting" if attempt == 0 else "reconnecting"))
            try:
                await self._run_once()
                attempt = 0
                if self._stopped:
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
            if self._stopped:
                break
            wait = self._backoff[min(attempt, len(self._backoff) - 1)]
            attempt += 1
            self._post(SessionState("lost", f"{detail}; retrying in {wait:g} s"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_stopped(), wait)
        self._post(SessionState("offline"))

    async def _wait_stopped(self) -> None:
        while not self._stopped:
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _run_once(self) -> None:
        async with self._open_session(self.target) as session:
            self._session = session
            # Our engine says in session.created whether it will speak; other
            # servers do not, so a speech_config in the project is the fallback.
            announced = session.session_info.get("speech")
            speech = (
                announced
                if isinstance(announced, bool)
                else isinstance(session.project_config.get("speech_config"), dict)
            )
            self._post(SessionState("connected", sample_rate=session.sample_rate, speech=speech))
            if self._unanswered is not None:
                # The last answer never finished: ask again on the new connection.
                self._outbox.appendleft(_Command("text", self._unanswered))
                self._post(QueryResent(self._unanswered))
                self._unanswered = None
            sender = asyncio.create_task(self._send_loop(session))
            try:
                async for event in session.events():
                    if isinstance(event, ResponseDone | ResponseInterrupted):
                        self._unanswered = None
                    if not isinstance(event, ExecutorRequest):
                        self._post(SessionEvent(event))
                    if self._stopped:
                        break
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, DistillerError):
                    await sender

    async def _send_loop(self, session: Any) -> None:
        while not self._stopped:
            if not self._outbox:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            command = self._outbox[0]
            try:
                await self._send(session, command)
            except (ConnectionLostError, RuntimeError):
                return  # keep the command queued; the reader reports the loss
            self._outbox.popleft()
            if command.kind == "text":
                self._unanswered = command.payload

    @staticmethod
    async def _send(session: Any, command: _Command) -> None:
        if command.kind == "text":
            await session.send_text_query(command.payload)
        elif command.kind == "cancel":
            await session.cancel_response()
        elif command.kind == "audio":
            await session.send_audio_chunk(command.payload)
        elif command.kind == "commit":
            await session.commit_audio()
        elif command.kind == "playback_started":
            await session.notify_playback_started()
        elif command.kind == "playback_stopped":
            await session.notify_playback_stopped()


def session_opener(client: Any, executor_dict: Mapping[str, Any]) -> Callable[[SessionTarget], Any]:
    """Binds an SDK client and the app's custom agents into `SessionRunner`'s opener."""

    def open_session(target: SessionTarget) -> Any:
        return client.realtime_distiller(
            project=target.project,
            uuid=target.uuid,
            executor_dict=dict(executor_dict),
            project_version=target.version,
        )

    return open_session
