"""The voice half of the SDK: ``listen_and_respond`` and ``send_text_and_respond``.

`VoiceSession` is the session the client hands out: a `RealtimeSession` that
can also join the audio actor of ``audio/`` (the layer below the SDK).
Microphone chunks go out as ``input_audio_buffer.append``; the player carries
out the conversation's actions (`Play`, `DropAudio`) and prints the text. It
decides nothing itself: which audio a skip silences and when an answer ends
is the `Conversation`'s call. A ``cancel_event`` skips the current agent;
the event is cleared when the next agent starts, which re-arms it.

``audio`` is imported only when a voice method runs, so a text-only user
never loads sounddevice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import IO, TYPE_CHECKING, Any

from protocol.client.errors import DistillerError, ServerError
from protocol.client.session import DEFAULT_SAMPLE_RATE, RealtimeSession
from protocol.conversation import (
    Action,
    AgentStarted,
    AgentText,
    DropAudio,
    Play,
    ResponseStarted,
    TranscriptChanged,
)
from protocol.events import Error, ResponseDone

if TYPE_CHECKING:
    from audio.actor import AudioActor

__all__ = ["AUDIO_ENV", "ResponsePlayer", "VoiceSession", "open_audio"]

AUDIO_ENV = "DISTILLER_AUDIO"


@contextlib.asynccontextmanager
async def open_audio(
    session: RealtimeSession, backend: Any, sample_rate: int
) -> AsyncIterator[AudioActor]:
    """An audio actor on ``backend`` (an object, a spec string, or env ``DISTILLER_AUDIO``).

    The speaker's real start and stop are reported to the server as
    ``playback.started`` / ``playback.stopped`` (barge-in timing).
    """
    from audio import AudioActor, backend_from_spec

    if sample_rate != session.sample_rate:
        raise ValueError(
            f"sample_rate {sample_rate} does not match the project's "
            f"speech_config.sample_rate {session.sample_rate}"
        )
    if backend is None:
        backend = os.environ.get(AUDIO_ENV) or "auto"
    if isinstance(backend, str):
        backend = backend_from_spec(backend)
    notices: list[asyncio.Task[None]] = []

    def playback_state(sounding: bool) -> None:
        notify = session.notify_playback_started if sounding else session.notify_playback_stopped
        notices.append(asyncio.get_running_loop().create_task(_quietly(notify())))

    try:
        async with AudioActor(backend, sample_rate, on_playback_state=playback_state) as actor:
            yield actor
    finally:
        await asyncio.gather(*notices, return_exceptions=True)


async def _quietly(send: Awaitable[None]) -> None:
    """A notice is best effort: a closed connection is reported by the response stream."""
    with contextlib.suppress(DistillerError, RuntimeError):
        await send


class ResponsePlayer:
    """Plays and prints one response by carrying out the conversation's actions."""

    def __init__(
        self,
        session: RealtimeSession,
        actor: AudioActor,
        cancel_event: asyncio.Event | None,
        output: IO[str] | None = None,
    ) -> None:
        self._session = session
        self._actor = actor
        self._cancel = cancel_event
        self._out = output if output is not None else sys.stdout
        self._rearmed = asyncio.Event()
        self._role: str | None = None

    async def run(self, on_response_created: Callable[[], Awaitable[None]] | None = None) -> None:
        """Consume the session's updates until ``response.done``; then let the audio finish."""
        if self._cancel is not None:
            self._cancel.clear()  # a press left from an earlier exchange must not skip this one
        watcher = asyncio.create_task(self._watch_cancel()) if self._cancel is not None else None
        try:
            async for update in self._session.updates():
                if isinstance(update.event, Error):
                    raise ServerError(update.event.message)  # fatal, as in the published SDK
                for action in update.actions:
                    if isinstance(action, ResponseStarted) and on_response_created is not None:
                        await on_response_created()
                self._carry_out(update.actions)
                if isinstance(update.event, ResponseDone):
                    break
            if self._role is not None:
                self._print("\n")
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
        await self._actor.wait_played()

    def _carry_out(self, actions: Iterable[Action]) -> None:
        for action in actions:
            if isinstance(action, Play):
                self._actor.play(action.audio)
            elif isinstance(action, DropAudio):
                self._actor.drop_playback()
            elif isinstance(action, AgentStarted):
                if self._cancel is not None and self._cancel.is_set():
                    self._cancel.clear()  # the next agent started: re-arm for it
                    self._rearmed.set()
                prefix = "\n" if self._role is not None else ""
                self._print(f"{prefix}[{action.role or 'assistant'}] ")
                self._role = action.role
            elif isinstance(action, AgentText):
                self._print(action.content)
            elif isinstance(action, TranscriptChanged) and action.final:
                self._print(f"You: {action.text}\n")

    def _print(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()

    async def _watch_cancel(self) -> None:
        assert self._cancel is not None
        while True:
            await self._cancel.wait()
            self._rearmed.clear()
            self._carry_out(await self._session.skip())
            await self._rearmed.wait()


async def _stream_microphone(session: RealtimeSession, actor: AudioActor) -> None:
    """Send microphone chunks until cancelled; at the end of a finite input, commit."""
    while chunk := await actor.read():
        await session.send_audio_chunk(chunk)
    await session.commit_audio()


class VoiceSession(RealtimeSession):
    """A `RealtimeSession` with the API document's voice methods."""

    def __init__(self, *args: Any, audio_backend: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._audio_backend = audio_backend

    async def listen_and_respond(
        self,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        cancel_event: asyncio.Event | None = None,
        *,
        output: IO[str] | None = None,
    ) -> None:
        """Stream the microphone until the server responds, then play and print the answer."""
        self.discard_pending_events()
        async with open_audio(self, self._audio_backend, sample_rate) as actor:
            await actor.start_capture()
            mic = asyncio.create_task(_stream_microphone(self, actor))

            async def stop_listening() -> None:
                # With barge-in the server must keep hearing the user; otherwise stop.
                if not self.vad_enabled:
                    mic.cancel()
                    await actor.stop_capture()

            player = asyncio.create_task(
                ResponsePlayer(self, actor, cancel_event, output).run(stop_listening)
            )
            try:
                await asyncio.wait({player, mic}, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for task in (player, mic):
                    task.cancel()
                await asyncio.gather(player, mic, return_exceptions=True)
                await actor.stop_capture()
            if not mic.cancelled() and mic.exception() is not None:
                raise mic.exception()  # type: ignore[misc]
            player.result()

    async def send_text_and_respond(
        self,
        text: str,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        cancel_event: asyncio.Event | None = None,
        *,
        output: IO[str] | None = None,
    ) -> None:
        """Send a typed query, then play and print the answer."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text query is empty")
        self.discard_pending_events()
        async with open_audio(self, self._audio_backend, sample_rate) as actor:
            await self.send_text_query(text)
            await ResponsePlayer(self, actor, cancel_event, output).run()
