"""The app's handle on the audio actor (``audio/``), and why audio may be off.

Choosing a backend can block (PortAudio enumerates devices), so `choose_backend`
runs in a thread at start-up. The actor itself is opened per session, at the
project's sample rate. Any failure becomes the "text only: <why>" shown in the
status bar; it never stops the app.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from app.settings import AppSettings


def choose_backend(spec: Any, settings: AppSettings) -> tuple[Any, str | None]:
    """(backend, None), or (None, why the app runs text only). Blocking."""
    try:
        import audio
        from protocol.client.voice import backend_from_spec
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

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.actor: Any = None

    @property
    def device_name(self) -> str:
        return str(getattr(self.backend, "description", "audio device"))

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
            self.backend, sample_rate=sample_rate, on_playback_state=on_playback_state
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
