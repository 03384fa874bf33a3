"""The voice wrappers: ``listen_and_respond`` and ``send_text_and_respond``.

They join a `RealtimeSession` to the audio actor of ``audio/``: microphone
chunks go out as ``input_audio_buffer.append``, answer audio is played as it
arrives, the text is printed. A ``cancel_event`` skips the current agent:
setting it sends ``response.cancel`` and silences what is queued for the
speaker; the event is cleared when the next agent starts (a new
``response.text.delta`` role), which re-arms it for that agent.

``audio`` is imported here only, and only when a voice method runs, so a
text-only user never loads sounddevice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import IO, TYPE_CHECKING, Any

from protocol.client.errors import DistillerError
from protocol.events import (
    ResponseAudioDelta,
    ResponseCreated,
    ResponseInterrupted,
    ResponseTextDelta,
    TranscriptDone,
)

if TYPE_CHECKING:
    from audio.actor import AudioActor
    from audio.backend import AudioBackend
    from protocol.client.session import RealtimeSession

__all__ = [
    "AUDIO_ENV",
    "ResponsePlayer",
    "backend_from_spec",
    "listen_and_respond",
    "open_audio",
    "send_text_and_respond",
]

AUDIO_ENV = "DISTILLER_AUDIO"


def backend_from_spec(spec: str) -> AudioBackend:
    """``auto`` | ``sounddevice`` | ``null`` | ``file:<mic.wav>:<speaker.wav>`` -> a backend.

    Either file may be left empty (``file::answer.wav`` = silent mic, answer
    recorded), as ``DISTILLER_AUDIO`` and the examples' ``--audio`` allow.
    """
    from audio.factory import open_backend

    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("audio backend spec is empty; use auto, null or file:MIC.wav:SPEAKER.wav")
    kind, _, files = spec.strip().partition(":")
    if kind != "file":
        if files:
            raise ValueError(f"audio backend {spec!r}: only 'file' takes paths after ':'")
        return open_backend(kind)
    mic, sep, speaker = files.partition(":")
    if not sep or ":" in speaker:
        raise ValueError(
            f"audio backend {spec!r} must look like file:MIC.wav:SPEAKER.wav "
            "(either path may be empty)"
        )
    return open_backend("file", mic_file=mic or None, speaker_file=speaker or None)


@contextlib.asynccontextmanager
async def open_audio(
    session: RealtimeSession, backend: Any, sample_rate: int
) -> AsyncIterator[AudioActor]:
    """An audio actor on ``backend`` (an object, a spec string, or env ``DISTILLER_AUDIO``).

    The speaker's real start and stop are reported to the server as
    ``playback.started`` / ``playback.stopped`` (barge-in timing).
    """
    from audio.actor import AudioActor

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
    """Plays and prints one response, honouring the per-agent cancel event."""

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
        """Consume the session's events until ``response.done``; then let the audio finish."""
        if self._cancel is not None:
            self._cancel.clear()  # a press left from an earlier exchange must not skip this one
        watcher = asyncio.create_task(self._watch_cancel()) if self._cancel is not None else None
        try:
            async for event in self._session.responses():
                if isinstance(event, ResponseCreated) and on_response_created is not None:
                    await on_response_created()
                elif isinstance(event, ResponseAudioDelta):
                    self._play(event.audio)
                elif isinstance(event, ResponseTextDelta):
                    self._text(event)
                elif isinstance(event, TranscriptDone):
                    self._print(f"You: {event.text}\n")
                elif isinstance(event, ResponseInterrupted):
                    self._actor.drop_playback()
            if self._role is not None:
                self._print("\n")
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
        if self._cancel is not None and self._cancel.is_set():
            self._actor.drop_playback()  # the last agent was skipped
        else:
            await self._actor.wait_played()

    def _play(self, audio: bytes) -> None:
        if self._cancel is not None and self._cancel.is_set():
            return  # the skipped agent's last chunks, sent before the server saw the cancel
        self._actor.play(audio)

    def _text(self, event: ResponseTextDelta) -> None:
        if event.role != self._role:
            if self._cancel is not None and self._cancel.is_set():
                self._cancel.clear()  # the next agent started: re-arm for it
                self._rearmed.set()
            prefix = "\n" if self._role is not None else ""
            self._print(f"{prefix}[{event.role or 'assistant'}] ")
            self._role = event.role
        self._print(event.content)

    def _print(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()

    async def _watch_cancel(self) -> None:
        assert self._cancel is not None
        while True:
            await self._cancel.wait()
            self._rearmed.clear()
            self._actor.drop_playback()
            await self._session.cancel_response()
            await self._rearmed.wait()


async def _stream_microphone(session: RealtimeSession, actor: AudioActor) -> None:
    """Send microphone chunks until cancelled; at the end of a finite input, commit."""
    while chunk := await actor.read():
        await session.send_audio_chunk(chunk)
    await session.commit_audio()


async def listen_and_respond(
    session: RealtimeSession,
    sample_rate: int = 16000,
    cancel_event: asyncio.Event | None = None,
    *,
    backend: Any = None,
    output: IO[str] | None = None,
) -> None:
    """Stream the microphone until the server responds, then play and print the answer."""
    session.discard_pending_events()
    async with open_audio(session, backend, sample_rate) as actor:
        await actor.start_capture()
        mic = asyncio.create_task(_stream_microphone(session, actor))

        async def stop_listening() -> None:
            # With barge-in the server must keep hearing the user; otherwise stop.
            if not session.vad_enabled:
                mic.cancel()
                await actor.stop_capture()

        player = asyncio.create_task(
            ResponsePlayer(session, actor, cancel_event, output).run(stop_listening)
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
    session: RealtimeSession,
    text: str,
    sample_rate: int = 16000,
    cancel_event: asyncio.Event | None = None,
    *,
    backend: Any = None,
    output: IO[str] | None = None,
) -> None:
    """Send a typed query, then play and print the answer."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text query is empty")
    session.discard_pending_events()
    async with open_audio(session, backend, sample_rate) as actor:
        await session.send_text_query(text)
        await ResponsePlayer(session, actor, cancel_event, output).run()
