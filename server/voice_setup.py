"""Wiring the offline speech stack and the embedded LLM into the server.

One `SpeechServices` per process owns the model registry (each model loaded
once, shared by all sessions) and hands each session what it needs: a voice
for its answers and a listener for its microphone audio.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any

from server.llm.base import LLMProvider, LLMSettings
from server.project import ProjectSpec
from server.response import SpeechOut
from server.settings import Settings

if TYPE_CHECKING:
    from server.session import SessionIdentity

log = logging.getLogger(__name__)


class SpeechServices:
    """Process-wide models and the per-session speech objects built from them."""

    def __init__(self, settings: Settings, *, speech_enabled: bool) -> None:
        from server.speech.models import ModelRegistry

        self.registry = ModelRegistry(settings.data_dir / "models")
        self.speech_enabled = speech_enabled
        self.settings = settings

    def preload_in_background(self) -> None:
        """Load models at start without delaying the server: /healthz shows progress."""
        names = ["vad", "asr", "tts", "turn"] if self.speech_enabled else []
        if self.settings.default_provider == "embedded":
            names.append("llm")
        if not names:
            return

        def load() -> None:
            self.registry.preload(names)
            for name, state in self.registry.status().items():
                if state.startswith("error"):
                    log.error("model %s could not load: %s", name, state)

        threading.Thread(target=load, name="model-preload", daemon=True).start()

    def embedded_provider(self, settings: LLMSettings) -> LLMProvider:
        from server.llm.embedded import EmbeddedProvider

        return EmbeddedProvider(self.registry, settings)

    async def for_session(
        self, spec: ProjectSpec, identity: SessionIdentity
    ) -> tuple[SpeechOut | None, Any, list[str]]:
        """(voice for answers, listener for audio, problems to tell the client)."""
        if not self.speech_enabled:
            return None, None, []
        from server.speech.models import ModelLoadError
        from server.speech.segmenter import SpeechSegmenter
        from server.voice_input import VoiceInput

        speech = spec.speech
        problems: list[str] = []
        out = None
        if speech.speaks:
            try:
                tts = await asyncio.to_thread(self.registry.tts, speech.tts_voice, speech.tts_speed)
                out = SpeechOut(
                    tts=tts, new_segmenter=SpeechSegmenter, sample_rate=speech.sample_rate
                )
            except ModelLoadError as exc:
                problems.append(f"speech output is off for this session: {exc}")
        listener = None
        try:
            vad, asr = await asyncio.gather(
                asyncio.to_thread(self.registry.vad),
                asyncio.to_thread(self.registry.asr, speech.asr_model, speech.asr_language),
            )
            listener = VoiceInput(speech, vad, asr, end_of_turn=await self._end_of_turn(speech))
        except ModelLoadError as exc:
            problems.append(f"speech input is off for this session: {exc}")
        return out, listener, problems

    async def _end_of_turn(self, speech: Any) -> Any:
        """Smart Turn for a smart-mode session, or None: silence mode (see /healthz "turn").

        No `error` frame: the published SDK ends the session on one, and the
        turn still works, with `silence_ms` of silence ending it.
        """
        from server.speech.models import ModelLoadError

        if speech.turn_mode != "smart":
            return None
        try:
            return await asyncio.to_thread(self.registry.end_of_turn)
        except ModelLoadError as exc:
            log.warning("turn detection falls back to silence mode: %s", exc)
            return None


def build_speech(settings: Settings, *, enabled: bool) -> tuple[SpeechServices | None, Any]:
    """(speech services, model registry for /healthz). Never raises for missing models."""
    try:
        services = SpeechServices(settings, speech_enabled=enabled)
    except ImportError as exc:  # the speech packages are not installed at all
        log.error("speech and embedded LLM unavailable: %s", exc)
        return None, None
    if not settings.lazy_models:
        services.preload_in_background()
    return services, services.registry
