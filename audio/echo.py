"""Client echo cancellation: the speaker's signal is removed from the microphone.

The canceller is WebRTC's AEC3 from the `pywebrtc-audio` package (measured
against the `livekit` package's AudioProcessingModule, the same AEC3 at 30 MB
instead of 1 MB, and `speexdsp` bindings, which need a system library and
estimate no delay; see docs/audio.md). It runs on the device threads, never
on the event loop: the speaker thread hands it every block it plays (the
far-end reference, silence included so the two clocks stay in step), the
microphone thread hands it every captured block and queues what comes out.
AEC3 estimates the echo-path delay itself (up to about half a second), so the
reference is always the most recently played audio and only a short backlog
of it is kept.

Ahead of AEC3, speexdsp's linear canceller (audio/linear_echo.py) takes most of
a loud echo out, so that AEC3's suppressor no longer takes out a user talking
over it. AEC3 runs at 8, 16, 32 or 48 kHz in 10 ms frames; other device rates are
resampled (soxr) to the next supported rate. Anything that goes wrong (the
package is missing, the library raises) turns the canceller off with a reason
and the raw microphone goes on: never a crash, never a silent mic.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from audio.linear_echo import LinearStage
from audio.resample import StreamResampler

log = logging.getLogger(__name__)

AEC_RATES = (8000, 16000, 32000, 48000)
"""Rates AEC3 runs at natively; other rates are resampled to the next one up."""

INSTALL_HINT = "pip install pywebrtc-audio"
_FRAME_S = 0.01  # AEC3's frame


def canceller_rate(rate: int) -> int:
    """The AEC3 rate a stream at `rate` is processed at (the next supported one up)."""
    return next((r for r in AEC_RATES if r >= rate), AEC_RATES[-1])


def load_processor(rate: int, noise_suppression: bool) -> Any:
    """A WebRTC audio processor with AEC3 (and NS if asked); raises RuntimeError naming why not."""
    try:
        from pywebrtc_audio import AudioProcessor
    except ImportError as exc:
        raise RuntimeError(f"the echo canceller is not installed ({INSTALL_HINT})") from exc
    try:
        return AudioProcessor(
            sample_rate=rate,
            echo_cancellation=True,
            noise_suppression=noise_suppression,
            high_pass_filter=True,
        )
    except Exception as exc:
        raise RuntimeError(f"the echo canceller could not start at {rate} Hz: {exc}") from exc


def start_canceller(
    no_echo_reason: str | None,
    mic_rate: int,
    speaker_rate: int,
    max_lag_s: float,
    noise_suppression: bool,
) -> tuple[EchoCanceller | None, str | None]:
    """A canceller for a capture, or (None, why not) with a warning logged if it cannot load."""
    if no_echo_reason is not None:
        return None, no_echo_reason
    rate = canceller_rate(mic_rate)
    try:
        processor = load_processor(rate, noise_suppression)
    except RuntimeError as exc:
        log.warning("echo cancellation is off: %s; the raw microphone is used", exc)
        return None, str(exc)
    return EchoCanceller(processor, rate, mic_rate, speaker_rate, max_lag_s), None


class EchoCanceller:
    """Cleans microphone blocks against the blocks the speaker played.

    `far` is called from the speaker's thread, `near` from the microphone's;
    `near` returns cleaned samples at `rate` (possibly a few ms late, since
    AEC3 works in whole 10 ms frames). If the library fails, `failure` says
    why and `near` passes the microphone through unchanged (resampled to `rate`).
    """

    def __init__(
        self, processor: Any, rate: int, mic_rate: int, speaker_rate: int, max_lag_s: float
    ) -> None:
        self.rate = rate
        self.failure: str | None = None
        self._processor = processor
        self._frame = round(rate * _FRAME_S)
        self._near_resampler = StreamResampler(mic_rate, rate)
        self._far_resampler = StreamResampler(speaker_rate, rate)
        self._near = np.zeros(0, dtype=np.int16)
        self._far = np.zeros(0, dtype=np.int16)
        self._far_max = self._frame + round(max_lag_s * rate)
        self._lock = threading.Lock()
        self._near_lock = threading.Lock()
        self.frames = 0
        """10 ms frames cleaned so far."""
        self.linear = LinearStage(rate)
        """speexdsp's linear canceller ahead of AEC3 (a user over a loud echo survives AEC3)."""

    def far(self, played: np.ndarray) -> None:
        """Speaker thread: one block as handed to the speaker (silence included)."""
        if self.failure is not None:
            return
        samples = self._far_resampler.process(played)
        with self._lock:
            far = np.concatenate((self._far, samples))
            # Keep only the latest audio: an old backlog would make the echo
            # arrive before its reference, which no canceller can follow.
            self._far = far[-self._far_max :]

    def set_mic_rate(self, mic_rate: int) -> None:
        """The microphone opened at another rate than asked for (loop thread, once)."""
        with self._near_lock:
            if mic_rate != self._near_resampler.in_rate:
                self._near_resampler = StreamResampler(mic_rate, self.rate)

    def near(self, captured: np.ndarray) -> np.ndarray:
        """Microphone thread: one captured block in, the cleaned audio available so far out."""
        with self._near_lock:
            return self._clean(self._near_resampler.process(captured))

    def flush(self) -> np.ndarray:
        """Microphone thread, at the end of its source: whatever is still held back."""
        with self._near_lock:
            tail = self._near_resampler.process(np.zeros(0, dtype=np.int16), last=True)
            pending = np.concatenate((self._clean(tail), self._near))
            self._near = pending[:0]
            return pending

    def _clean(self, resampled: np.ndarray) -> np.ndarray:
        pending = np.concatenate((self._near, resampled))
        if self.failure is not None:
            self._near = pending[:0]
            return pending
        whole = len(pending) - len(pending) % self._frame
        self._near = pending[whole:]
        out = []
        for start in range(0, whole, self._frame):
            frame = pending[start : start + self._frame]
            try:
                far = self._take_far()
                out.append(self._processor.process(self.linear.process(frame, far), far))
            except Exception as exc:
                self._fail(f"the echo canceller failed: {exc}")
                out.append(frame)
                out.append(pending[start + self._frame : whole])
                break
            self.frames += 1
        return np.concatenate(out) if out else pending[:0]

    def _take_far(self) -> np.ndarray:
        with self._lock:
            far, self._far = self._far[: self._frame], self._far[self._frame :]
        if len(far) < self._frame:  # the speaker thread has not delivered yet: silence
            far = np.concatenate((far, np.zeros(self._frame - len(far), dtype=np.int16)))
        return far

    def _fail(self, reason: str) -> None:
        self.failure = reason
        log.warning("echo cancellation is off: %s; the raw microphone is used", reason)
