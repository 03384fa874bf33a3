"""Per-session turn detection: when did the user start talking, and when are they done?

Microphone audio arrives at the session's rate in chunks of any size. It is
resampled to 16 kHz for Silero, scored in 32 ms windows, and turned into
events with hysteresis (speech above `SPEECH_THRESHOLD`, silence below
`SILENCE_THRESHOLD`): `started` once enough speech is heard (the barge-in
trigger) and `ended` once enough silence follows it (time to transcribe).
The raw audio of the utterance, with a little pre-roll so the first syllable
is not clipped, is kept for the recogniser.
"""

from __future__ import annotations

from dataclasses import dataclass

import soxr

from server.speech.pcm import check_sample_rate, pcm16_to_float
from server.speech.vad import VAD_RATE, WINDOW, WINDOW_MS, VadModel

SPEECH_THRESHOLD = 0.5
SILENCE_THRESHOLD = 0.35
PRE_ROLL_MS = 200
TAIL_MS = 200  # silence kept after the last speech window when an utterance ends


@dataclass(frozen=True, slots=True)
class TurnUpdate:
    """What one `TurnDetector.feed` call observed."""

    speech_active: bool  # VAD currently hears speech
    speech_ms: float  # speech heard so far in this utterance
    started: bool  # this feed crossed min_speech_ms for the first time (barge-in trigger)
    ended: bool  # silence_ms of silence followed speech: the user's turn is over


class TurnDetector:
    """Streaming turn detection for one audio stream; `feed` is blocking (runs ONNX)."""

    def __init__(
        self,
        vad: VadModel,
        sample_rate: int,
        silence_ms: int = 600,
        min_speech_ms: int = 300,
        max_utterance_ms: int = 30_000,
        tail_ms: int = TAIL_MS,
    ) -> None:
        self.sample_rate = check_sample_rate(sample_rate)
        for name, value in (
            ("silence_ms", silence_ms),
            ("min_speech_ms", min_speech_ms),
            ("max_utterance_ms", max_utterance_ms),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name} must be a positive number of milliseconds, got {value!r}")
        if max_utterance_ms <= min_speech_ms:
            raise ValueError(
                f"max_utterance_ms ({max_utterance_ms}) must exceed min_speech_ms ({min_speech_ms})"
            )
        self.silence_ms = float(silence_ms)
        self.min_speech_ms = float(min_speech_ms)
        self.max_utterance_ms = float(max_utterance_ms)
        self.tail_ms = float(tail_ms)  # also when `pending_utterance` becomes available
        self._vad = vad
        self._samples_per_window = WINDOW * self.sample_rate / VAD_RATE
        self.reset()

    # -- public ---------------------------------------------------------------

    def feed(self, pcm16: bytes) -> TurnUpdate:
        """Score a chunk of PCM16 mono audio (any length) and report what changed."""
        samples = pcm16_to_float(pcm16)
        self._audio.extend(pcm16)
        resampled = samples if self._resampler is None else self._resampler.resample_chunk(samples)
        started = ended = False
        for prob in self._stream.feed(resampled):
            window_started, window_ended = self._step(float(prob))
            started |= window_started
            ended |= window_ended
        if not self._in_utterance:
            self._trim_idle_audio()
        return TurnUpdate(self._speaking, self._speech_ms, started, ended)

    def utterance(self) -> bytes:
        """PCM16 of the current utterance (with ~200 ms pre-roll), at the stream's rate.

        Right after an update with ``ended``, this is the utterance that just
        ended, until new speech starts or `reset` is called.
        """
        if self._in_utterance:
            return bytes(self._audio[self._byte_index(self._utterance_start) :])
        return self._finished

    def pending_utterance(self) -> bytes | None:
        """The utterance as `utterance` will give it if the turn ends in this silence; else None.

        Available once ``tail_ms`` of silence follows speech (the kept audio is
        complete then), so the caller can transcribe during the rest of the
        silence window instead of after it. None while speech goes on.
        """
        if not self.has_speech or self._speaking or self._silence_ms < self.tail_ms:
            return None
        return bytes(self._audio[self._byte_index(self._utterance_start) : self._tail_end()])

    @property
    def has_speech(self) -> bool:
        """Whether ``min_speech_ms`` of speech has been heard in this utterance."""
        return self._in_utterance and self._speech_ms >= self.min_speech_ms

    @property
    def quiet_ms(self) -> float:
        """Silence heard since the last speech of the current utterance."""
        return self._silence_ms if self._in_utterance else 0.0

    def end_now(self) -> bool:
        """Close the utterance in this silence (the caller decided the turn is over).

        Afterwards `utterance` gives exactly what `pending_utterance` gave. False
        (and nothing changes) when there is no such utterance: speech resumed.
        """
        if self.pending_utterance() is None:
            return False
        self._finish()
        return True

    @property
    def speech_active(self) -> bool:
        """Whether the VAD hears speech right now."""
        return self._speaking

    def reset(self) -> None:
        """Forget everything: audio, VAD state and the current or finished utterance."""
        self._stream = self._vad.stream()
        self._resampler = (
            None
            if self.sample_rate == VAD_RATE
            else soxr.ResampleStream(self.sample_rate, VAD_RATE, 1, dtype="float32")
        )
        self._audio = bytearray()
        self._audio_start = 0  # absolute sample index of self._audio[0]
        self._windows = 0  # windows scored so far
        self._speaking = False
        self._in_utterance = False
        self._utterance_start = 0  # absolute sample index
        self._last_speech_end = 0  # absolute sample index
        self._speech_ms = 0.0
        self._silence_ms = 0.0
        self._finished = b""

    # -- internals --------------------------------------------------------------

    def _step(self, prob: float) -> tuple[bool, bool]:
        """Advance one 32 ms window; return (started, ended) for it."""
        self._windows += 1
        window_end = round(self._windows * self._samples_per_window)
        if prob >= SPEECH_THRESHOLD:
            self._speaking = True
        elif prob < SILENCE_THRESHOLD:
            self._speaking = False
        if self._speaking:
            return self._on_speech(window_end)
        return False, self._on_silence()

    def _on_speech(self, window_end: int) -> tuple[bool, bool]:
        if not self._in_utterance:
            self._in_utterance = True
            self._finished = b""
            window_start = window_end - round(self._samples_per_window)
            pre_roll = round(PRE_ROLL_MS * self.sample_rate / 1000)
            self._utterance_start = max(self._audio_start, window_start - pre_roll)
            self._speech_ms = 0.0
        was_enough = self._speech_ms >= self.min_speech_ms
        self._speech_ms += WINDOW_MS
        self._silence_ms = 0.0
        self._last_speech_end = window_end
        started = not was_enough and self._speech_ms >= self.min_speech_ms
        too_long = self._ms(window_end - self._utterance_start) >= self.max_utterance_ms
        if too_long and self._speech_ms >= self.min_speech_ms:
            self._finish()  # nobody talks 30 s without a pause; hand over what we have
            return started, True
        return started, False

    def _on_silence(self) -> bool:
        if not self._in_utterance:
            return False
        self._silence_ms += WINDOW_MS
        if self._silence_ms < self.silence_ms:
            return False
        if self._speech_ms >= self.min_speech_ms:
            self._finish()
            return True
        self._in_utterance = False  # a click or a cough: drop it quietly
        self._speech_ms = 0.0
        return False

    def _tail_end(self) -> int:
        """Byte offset in the buffer just after the kept tail of silence after the last speech."""
        tail = round(self.tail_ms * self.sample_rate / 1000)
        return self._byte_index(self._last_speech_end + tail)

    def _finish(self) -> None:
        """Close the utterance: keep its audio up to a short tail after the last speech."""
        start = self._byte_index(self._utterance_start)
        self._finished = bytes(self._audio[start : self._tail_end()])
        self._in_utterance = False
        self._silence_ms = 0.0

    def _trim_idle_audio(self) -> None:
        """While idle keep only the pre-roll worth of audio before the scored position."""
        scored_end = round(self._windows * self._samples_per_window)
        keep_from = scored_end - round(PRE_ROLL_MS * self.sample_rate / 1000)
        if keep_from > self._audio_start:
            del self._audio[: self._byte_index(keep_from)]
            self._audio_start = keep_from

    def _byte_index(self, sample: int) -> int:
        return max(0, min(len(self._audio), 2 * (sample - self._audio_start)))

    def _ms(self, samples: int) -> float:
        return samples * 1000 / self.sample_rate
