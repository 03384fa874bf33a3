"""Has the user finished their turn? Smart Turn v3.2 on the audio, plus the words so far.

A fixed silence window either makes a user who has stopped wait for nothing or
cuts off a user who pauses mid-sentence ("my number is five five five ... one
two three four"). When the VAD hears a short silence after speech, the engine
asks this module instead. Two signals:

- The audio: Pipecat's Smart Turn v3.2 (BSD-2), an int8 Whisper-tiny-encoder
  classifier that ships as an ONNX file inside the ``pipecat-ai`` wheel. Only the
  file is used (pipecat itself is never imported). Preprocessing follows
  pipecat's own ``LocalSmartTurnAnalyzerV3``: 16 kHz, the last 8 s, zero-padded
  at the front, waveform normalised to zero mean and unit variance, then
  Whisper's 80-bin log-mel features, computed here with faster-whisper's
  ``FeatureExtractor`` (checked to match pipecat's to 2e-7).
- The words: Whisper's transcript of the same audio (the engine decodes it
  anyway, as the draft of the final transcript). A sentence that stops on
  "and", "the", "to", a filler, a "let me think", or in the middle of a string
  of digits is not finished whatever the audio says; a question mark is. On
  synthetic voices the audio alone scored "The code is one two three" 0.95
  complete and "How far is the moon?" 0.15, so the words come first.

`decide` is pure; `SmartTurnModel.probability` is blocking (ONNX, one thread,
~30 ms) and thread-safe.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from server.model_loading import ModelLoadError
from server.speech.onnx_session import single_thread_session
from server.speech.words import words_of

MODEL_RATE = 16000
WINDOW_S = 8  # the model sees the last 8 s of the utterance
COMPLETE_AT = 0.5  # the model's own threshold
# Whisper's mean log probability per token below which its words are a guess: a
# pause mid-sentence often leaves a fragment Whisper completes with made-up words
# ("Uh, how about" -> "a halibale.", "Add milk," -> "at mill."), and a turn must
# not end on words nobody said. Chosen on `bench.turn_verdicts`: the cut-off
# drafts sat at -0.46 to -0.96, most finished sentences above -0.3.
UNSURE_LOGPROB = -0.45
PHONE_DIGITS = 7  # a digit string this long may be a whole phone number
MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
MODEL_PACKAGE = "pipecat-ai==1.14.0"
INSTALL_HINT = f"pip install --no-deps {MODEL_PACKAGE} (only its model file is used)"
_NORM_EPS = 1e-7


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words after which an English sentence goes on. Never the last word of a turn:
# articles and other determiners, conjunctions, "of", "to", fillers.
_ALWAYS_CONTINUES = _word_set(
    """
    and or but so because than that which whose although nor
    the a an my your our their his her its this these those some any every each no
    of to um uh er erm hmm mm ah eh uhm
    """
)
_PREPOSITIONS = _word_set("in on at for with from about into onto by like as per via between")
_AUXILIARIES = _word_set(
    "is are was were am do does did can could will would should shall may might must have has had"
)
# The last word of many questions ("what is it for?", "where is it?"), but of a
# statement only when the speaker is not done ("my number is ...").
_CONTINUES_UNLESS_ASKED = (
    _PREPOSITIONS | _AUXILIARIES | _word_set("if then when where while who be been being let")
)
# A question that starts with one of these and puts the verb before its subject ("which
# platform does the train leave from", "where are you from") may end on a preposition.
_WH_WORDS = _word_set("what which where who whom whose how")
_HESITATIONS = (
    "let me think",
    "let me see",
    "let me check",
    "i mean",
    "you know",
    "how do i say",
    "what's it called",
    "what is it called",
)
_NUMBER_WORDS = _word_set("zero oh one two three four five six seven eight nine ten double triple")
# Whisper writes an unfinished "... a flight to" as "a flight too?": a last "too"
# is no sign of a finished question (the audio decides those).
_SOUNDS_LIKE_TO = _word_set("too")


@dataclass(frozen=True, slots=True)
class Verdict:
    """One decision: is the turn over, and why (for logs and the benchmark)."""

    complete: bool
    probability: float  # Smart Turn's probability that the turn is complete
    reason: str  # "question", "words", "unsure words", "no words", "audio"


def words_signal(text: str) -> bool | None:
    """False if the words so far are unfinished, True if they end a question, else None."""
    stripped = text.strip()
    if not stripped:
        return None
    if stripped.endswith(("...", "…", ",", "-", ":")):
        return False  # Whisper marks a trailing-off voice with an ellipsis or a comma
    tokens = words_of(stripped)
    if not tokens:
        return None
    asked = stripped.endswith("?") and tokens[-1] not in _SOUNDS_LIKE_TO
    tail = " ".join(tokens[-4:])
    if tokens[-1] in _ALWAYS_CONTINUES or any(tail.endswith(h) for h in _HESITATIONS):
        return False
    if not asked and _reading_digits(tokens):
        return False
    if not asked and tokens[-1] in _CONTINUES_UNLESS_ASKED:
        # Whisper often drops a question mark; a wh-question may end on its preposition
        # ("... leave from."), so that is left to the audio, not taken as unfinished.
        return None if _wh_question(tokens) and tokens[-1] in _PREPOSITIONS else False
    return True if asked else None


def _wh_question(tokens: list[str]) -> bool:
    """ "Which platform does ...", "Where are you ...": not "What I really want is ..."."""
    return tokens[0] in _WH_WORDS and any(t in _AUXILIARIES for t in tokens[1:3])


def _reading_digits(tokens: list[str]) -> bool:
    """A statement that stops on a number shorter than a phone number: more is likely to follow.

    "five five five", "739 281", "my address is 22" and "a timer for 10" go
    on; "555 1234" (seven digits) may be complete: the audio decides those. A
    statement that really ends on a short number ("I am 25") waits for the limit.
    """
    digits = 0
    for token in reversed(tokens):
        if not (token.isdigit() or token in _NUMBER_WORDS):
            break
        digits += len(token) if token.isdigit() else 1
    return 0 < digits < PHONE_DIGITS


def decide(probability: float, text: str, avg_logprob: float = 0.0) -> Verdict:
    """Combine the audio model's probability with the transcript so far and its confidence."""
    signal = words_signal(text)
    if signal is False:
        return Verdict(False, probability, "words")
    if text.strip() and avg_logprob < UNSURE_LOGPROB:
        return Verdict(False, probability, "unsure words")
    if signal is True:
        return Verdict(True, probability, "question")
    if not text.strip():
        # Nothing recognisable (noise, a cough): nothing to wait for, and a turn
        # with no words gets no answer anyway.
        return Verdict(True, probability, "no words")
    return Verdict(probability >= COMPLETE_AT, probability, "audio")


class SmartTurnModel:
    """The loaded Smart Turn ONNX session."""

    def __init__(self, session: Any, path: Path) -> None:
        from faster_whisper.feature_extractor import FeatureExtractor

        self._session = session
        self._features = FeatureExtractor(feature_size=80, chunk_length=WINDOW_S)
        self._input = session.get_inputs()[0].name
        self.path = path

    def probability(self, audio16k: np.ndarray) -> float:
        """Probability that the speech in ``audio16k`` (float, 16 kHz) is a finished turn."""
        samples = WINDOW_S * MODEL_RATE
        clip = np.asarray(audio16k, dtype=np.float32)[-samples:]
        clip = np.pad(clip, (samples - clip.size, 0))
        clip = (clip - clip.mean()) / np.sqrt(clip.var() + _NORM_EPS)
        features = self._features(clip, padding=0)[np.newaxis].astype(np.float32)
        (scores,) = self._session.run(None, {self._input: features})[:1]
        return float(np.asarray(scores).reshape(-1)[0])

    def timed_probability(self, audio16k: np.ndarray) -> tuple[float, float]:
        """(probability, CPU seconds this thread spent on it)."""
        started = time.thread_time()
        probability = self.probability(audio16k)
        return probability, time.thread_time() - started


def bundled_model_path() -> Path:
    """Where the ``pipecat-ai`` wheel keeps Smart Turn v3.2, found without importing pipecat."""
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"end-of-turn model is not installed: {INSTALL_HINT}")
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / "audio" / "turn" / "smart_turn" / "data" / MODEL_FILE


def load_end_of_turn(path: Path | None = None) -> SmartTurnModel:
    """Load Smart Turn (blocking, ~0.2 s). Raises `ModelLoadError` saying how to fix it."""
    model_path = bundled_model_path() if path is None else Path(path)
    session = single_thread_session(model_path, "end-of-turn model", f"install: {INSTALL_HINT}")
    try:
        model = SmartTurnModel(session, model_path)
        model.probability(np.zeros(MODEL_RATE // 2, dtype=np.float32))  # fails now, not mid-turn
    except Exception as exc:
        raise ModelLoadError(f"end-of-turn model: file damaged: {model_path} ({exc})") from exc
    return model
