"""Loads each model once per process and shares it with every session.

Loading Whisper, Piper and llama.cpp takes around a second each, and each
holds tens to hundreds of MB, so sessions must never load their own. The
registry loads a model on first request (or in `preload`), lets concurrent
callers wait for that one load, and remembers each model's state for the
server's health/status output. The loaders themselves live with their room
(`server.speech.*`, `server.llm.gguf`) and know nothing of this cache.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from server.model_loading import ModelLoadError, speech_threads
from server.speech import defaults

if TYPE_CHECKING:
    from server.speech.asr import SpeechRecognizer
    from server.speech.end_of_turn import SmartTurnModel
    from server.speech.tts import TextToSpeech
    from server.speech.vad import VadModel

T = TypeVar("T")

MODEL_NAMES = ("vad", "asr", "tts", "llm", "turn")


class ModelRegistry:
    """Process-wide cache of loaded models, keyed by their configuration; thread-safe."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = Path(models_dir)
        self._models: dict[str, Any] = {}
        self._status: dict[str, str] = dict.fromkeys(MODEL_NAMES, "not loaded")
        self._guard = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self.llm_lock = threading.Lock()
        """Held while anyone runs the shared Llama: llama.cpp contexts are not thread-safe."""

    # -- the models -------------------------------------------------------

    def vad(self) -> VadModel:
        """The Silero VAD session shared by every turn detector."""
        from server.speech.vad import load_vad

        return self._get("vad", load_vad)

    def asr(
        self, model: str = defaults.ASR_MODEL, language: str = defaults.ASR_LANGUAGE
    ) -> SpeechRecognizer:
        """Whisper for ``model`` ("tiny.en" = bundled, else a CTranslate2 dir) and language."""
        from server.speech.asr import load_asr

        is_default = (model, language) == (defaults.ASR_MODEL, defaults.ASR_LANGUAGE)
        key = "asr" if is_default else f"asr:{model}:{language}"
        return self._get(key, lambda: load_asr(model, language, cpu_threads=speech_threads()))

    def tts(
        self, voice: str = defaults.TTS_VOICE, speed: float = defaults.TTS_SPEED
    ) -> TextToSpeech:
        """A Piper voice (bundled name, a name in ``<models_dir>/voices``, or a .onnx path)."""
        from server.speech.tts import load_tts

        is_default = (voice, speed) == (defaults.TTS_VOICE, defaults.TTS_SPEED)
        key = "tts" if is_default else f"tts:{voice}@{speed:g}"
        return self._get(key, lambda: load_tts(voice, speed, search_dir=self.models_dir / "voices"))

    def end_of_turn(self) -> SmartTurnModel:
        """Smart Turn, for `turn_detection.mode: smart` (an error here means silence mode)."""
        from server.speech.end_of_turn import load_end_of_turn

        return self._get("turn", load_end_of_turn)

    def llm_model(self, model: str = "") -> Any:
        """The ``llama_cpp.Llama`` for the bundled GGUF ("" = bundled) or a local .gguf path."""
        from server.llm.gguf import BUNDLED_NAMES, load_llama

        key = "llm" if model in BUNDLED_NAMES else f"llm:{model}"
        return self._get(key, lambda: load_llama(model, self.models_dir))

    # -- bulk loading and status --------------------------------------------

    def preload(self, names: Iterable[str] = MODEL_NAMES) -> None:
        """Load the default models now (blocking). Failures are recorded in `status`, not raised."""
        loaders: dict[str, Callable[[], object]] = {
            "vad": self.vad,
            "asr": self.asr,
            "tts": self.tts,
            "llm": self.llm_model,
            "turn": self.end_of_turn,
        }
        for name in names:
            if name not in loaders:
                raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
            with contextlib.suppress(ModelLoadError):  # recorded as "error: ..." by _get
                loaders[name]()

    def status(self) -> dict[str, str]:
        """Model name -> "not loaded" | "loading" | "ready" | "error: <message>"."""
        with self._guard:
            return dict(self._status)

    # -- internals --------------------------------------------------------

    def _get(self, key: str, load: Callable[[], T]) -> T:
        with self._guard:
            if key in self._models:
                return self._models[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._guard:
                if key in self._models:  # another thread loaded it while we waited
                    return self._models[key]
                self._status[key] = "loading"
            try:
                model = load()
            except ModelLoadError as exc:
                self._set_status(key, f"error: {exc}")
                raise
            except Exception as exc:
                self._set_status(key, f"error: {key}: {exc}")
                raise ModelLoadError(f"model {key!r} failed to load: {exc}") from exc
            with self._guard:
                self._models[key] = model
                self._status[key] = "ready"
            return model

    def _set_status(self, key: str, status: str) -> None:
        with self._guard:
            self._status[key] = status
