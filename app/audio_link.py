"""The app's handle on the audio actor (``audio/``), and why audio may be off.

Choosing a backend can block (PortAudio enumerates devices), so `choose_backend`
runs in a thread at start-up. The actor itself is opened per session, at the
project's sample rate. Any failure becomes the "text only: <why>" shown in the
status bar; it never stops the app.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from app.settings import AppSettings


def choose_backend(spec: Any, settings: AppSettings) -> tuple[Any, str | None]:
    """(backend, None), or (None, why the app runs text only). Blocking."""
    if spec == "none":
        return None, "audio off (--audio none)"
    try:
        import audio
        from audio import backend_from_spec
    except ImportError as exc:
        return None, f"audio support missing ({exc})"
    try:
        if spec is None:
            reason = audio.probe_audio(settings.input_device, settings.output_device)
            if reason:
                return None, reason
            return audio.open_backend(
                "sounddevice",
                input_device=settings.input_device,
                output_device=settings.output_device,
            ), None
        if isinstance(spec, str):
            return backend_from_spec(spec), None
        return spec, None
    except Exception as exc:
        return None, str(exc) or type(exc).__name__


class AudioLink:
    """One backend; an `audio.AudioActor` on it while a speech session is open."""

    def __init__(self, backend: Any, *, echo_cancellation: bool = True) -> None:
        self.backend = backend
        self.echo_cancellation = echo_cancellation
        self.actor: Any = None

    @property
    def device_name(self) -> str:
        return str(getattr(self.backend, "description", "audio device"))

    @property
    def echo_status(self) -> str:
        """Echo cancellation: "on (…)" or "off: why" (it follows capture starting and stopping)."""
        if self.actor is None:
            return "off: no sound open yet" if self.echo_cancellation else "turned off (--no-aec)"
        return str(self.actor.aec_status)

    @property
    def is_open(self) -> bool:
        return self.actor is not None

    async def open(self, sample_rate: int, on_playback_state: Callable[[bool], None]) -> None:
        """Open the actor at the session's rate (reopening if the rate changed)."""
        import audio

        if self.actor is not None:
            if self.actor.sample_rate == sample_rate:
                self.actor.on_playback_state = on_playback_state
                return
            await self.close()
        actor = audio.AudioActor(
            self.backend,
            sample_rate=sample_rate,
            on_playback_state=on_playback_state,
            echo_cancellation=self.echo_cancellation,
        )
        await actor.open()
        self.actor = actor

    async def close(self) -> None:
        actor, self.actor = self.actor, None
        if actor is not None:
            with contextlib.suppress(Exception):
                await actor.close()

    def input_levels(self) -> Sequence[float]:
        return self.actor.input_levels.snapshot().waveform if self.actor is not None else ()

    def output_levels(self) -> Sequence[float]:
        return self.actor.output_levels.snapshot().waveform if self.actor is not None else ()

    async def start_capture(self) -> None:
        if self.actor is not None:
            await self.actor.start_capture()

    async def stop_capture(self) -> None:
        if self.actor is not None:
            await self.actor.stop_capture()

    async def read(self) -> bytes:
        return await self.actor.read() if self.actor is not None else b""

    def play(self, pcm: bytes) -> None:
        if self.actor is not None:
            self.actor.play(pcm)

    def drop_playback(self) -> None:
        if self.actor is not None:
            self.actor.drop_playback()


class MicPump:
    """Moves captured audio to the session while recording, committing as it goes.

    Frequent commits (like the SDK's every 0.3 s) give live partial
    transcripts; the last one, when recording stops, ends the turn unless the
    engine ended it first (`stop(commit=False)`).
    """

    COMMIT_EVERY_S = 0.3

    def __init__(self, audio: AudioLink) -> None:
        self.audio = audio
        self.recording = False
        self._commit_on_stop = True

    def stop(self, *, commit: bool = True) -> None:
        self.recording = False
        self._commit_on_stop = commit

    async def run(
        self,
        send: Callable[[bytes], None],
        commit: Callable[[], None],
        on_open: Callable[[], None] | None = None,
    ) -> None:
        """Record until `stop` or the end of the mic input; the actor's read waits.

        ``on_open`` runs once the microphone is open (its echo canceller is known then).
        """
        self.recording, self._commit_on_stop = True, True
        await self.audio.start_capture()
        if on_open is not None:
            on_open()
        last_commit = time.monotonic()
        try:
            while self.recording:
                chunk = await self.audio.read()
                if not chunk:
                    break  # the mic (or the mic file) ended
                send(chunk)
                if time.monotonic() - last_commit >= self.COMMIT_EVERY_S:
                    commit()
                    last_commit = time.monotonic()
        finally:
            self.recording = False
            await self.audio.stop_capture()
            if self._commit_on_stop:
                commit()
