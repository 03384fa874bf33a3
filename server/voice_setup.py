"""Wiring the offline speech stack and the embedded LLM into the server.

One `SpeechServices` per process owns the model registry (each model loaded
once, shared by all sessions) and hands each session what it needs: a voice
for its answers and a listener for its microphone audio.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from functools import partial
from typing import TYPE_CHECKING, Any

from server.admission import Admission
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
        from server.model_loading import llm_threads
        from server.models import ModelRegistry
        from server.speech.scheduler import plan_tts_workers

        self.registry = ModelRegistry(settings.data_dir / "models")
        self.speech_enabled = speech_enabled
        self.settings = settings
        if settings.default_provider == "embedded":
            plan_tts_workers(llm_threads())
        self.admission = Admission(settings.max_speech_sessions, settings.max_speech_backlog_s)

    def preload_in_background(self) -> None:
        """Load models at start without delaying the server: /healthz shows progress."""
        names = ["vad", "asr", "tts", "turn"] if self.speech_enabled else []
        if self.settings.default_provider == "embedded":
            names.append("llm")
        if not names:
            return

        def load() -> None:
            self.registry.preload(names)
            self._calibrate()
            for name, state in self.registry.status().items():
                if state.startswith("error"):
                    log.error("model %s could not load: %s", name, state)

        threading.Thread(target=load, name="model-preload", daemon=True).start()

    def _calibrate(self) -> None:
        """Measure Piper once loaded: the speech session limit is derived from it."""
        if self.admission.measured or self.registry.status().get("tts") != "ready":
            return
        try:
            self.admission.calibrate(self.registry.tts())
        except Exception as exc:  # the assumed speed stays in use; /healthz says so
            log.warning("could not measure Piper's speed: %s", exc)

    def embedded_provider(self, settings: LLMSettings) -> LLMProvider:
        from server.llm.embedded import EmbeddedProvider

        return EmbeddedProvider(self.registry, settings)

    async def for_session(
        self, spec: ProjectSpec, identity: SessionIdentity
    ) -> tuple[SpeechOut | None, Any, list[str]]:
        """(voice for answers, listener for audio, problems to tell the client)."""
        if not self.speech_enabled:
            return None, None, []
        from server.model_loading import ModelLoadError
        from server.speech.segmenter import SpeechSegmenter
        from server.voice_input import VoiceInput

        speech = spec.speech
        problems: list[str] = []
        out = None
        if speech.speaks:
            try:
                tts = await self._voice(speech)
                if speech.tts_endpoint is None and not self.admission.measured:
                    await asyncio.to_thread(self._calibrate)  # lazy models: measure on first use
                out = SpeechOut(
                    tts=tts,
                    new_segmenter=partial(SpeechSegmenter, first_clause=True),
                    sample_rate=speech.sample_rate,
                )
            except ModelLoadError as exc:
                problems.append(f"speech output is off for this session: {exc}")
        listener = None
        try:
            vad, asr = await asyncio.gather(
                asyncio.to_thread(self.registry.vad), self._recognizer(speech)
            )
            listener = VoiceInput(speech, vad, asr, end_of_turn=await self._end_of_turn(speech))
            if speech.asr_endpoint is not None:
                asr.report = _reporter(asyncio.get_running_loop(), listener)
        except ModelLoadError as exc:
            problems.append(f"speech input is off for this session: {exc}")
        return out, listener, problems

    async def _end_of_turn(self, speech: Any) -> Any:
        """Smart Turn for a smart-mode session, or None: silence mode (see /healthz "turn").

        No `error` frame: the published SDK ends the session on one, and the
        turn still works, with `silence_ms` of silence ending it.
        """
        from server.model_loading import ModelLoadError

        if speech.turn_mode != "smart":
            return None
        try:
            return await asyncio.to_thread(self.registry.end_of_turn)
        except ModelLoadError as exc:
            log.warning("turn detection falls back to silence mode: %s", exc)
            return None

    async def _voice(self, speech: Any) -> Any:
        """Piper in this process, or an OpenAI-compatible speech endpoint (``engine: openai``)."""
        if speech.tts_endpoint is not None:
            from server.speech.openai_audio import Endpoint, RemoteVoice

            return RemoteVoice(Endpoint(**speech.tts_endpoint), speech.tts_voice, speech.tts_speed)
        return await asyncio.to_thread(self.registry.tts, speech.tts_voice, speech.tts_speed)

    async def _recognizer(self, speech: Any) -> Any:
        """Whisper in this process, or an OpenAI-compatible transcription endpoint."""
        if speech.asr_endpoint is not None:
            from server.speech.openai_audio import Endpoint, RemoteRecognizer

            return RemoteRecognizer(Endpoint(**speech.asr_endpoint), speech.asr_language)
        return await asyncio.to_thread(self.registry.asr, speech.asr_model, speech.asr_language)


def _reporter(loop: asyncio.AbstractEventLoop, listener: Any) -> Any:
    """A callback, safe from worker threads, that tells the listener's session a problem."""

    sending: set[asyncio.Future[None]] = set()

    def tell(message: str) -> None:
        if listener.session is not None:
            future = asyncio.ensure_future(listener.session.error(message))
            sending.add(future)
            future.add_done_callback(sending.discard)

    return lambda message: loop.call_soon_threadsafe(tell, message)


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
