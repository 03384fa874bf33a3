"""A linear echo canceller ahead of AEC3, so a user talking over a loud echo survives it.

With the echo as loud as the user (0 dB), AEC3's nonlinear suppressor takes the
user out during double talk for 0.7-1.5 s (bench.room_replay: a VAD on its
output reached 700 ms of the interruption 1.7-2.2 s after it began, or never).
speexdsp's linear canceller (`speexaec`) never suppresses; run first, it takes
15-25 dB of the echo out, and AEC3, now facing a quiet echo, lets the user
through (700 ms reached after 0.8-1.1 s, as for the user alone) at the same
ERLE. A linear filter converges in about a second only if it spans the room's
reverberation, not the delay before it, so the reference is delayed by the
echo lag measured here: the peak normalised cross-correlation of the
microphone with what was played (the server measures the same in
server/speech/echo.py; audio/ imports nothing of ours, hence this copy of the
idea). Until a lag is measured (or with no echo at all, a headset) the
microphone passes to AEC3 unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class LinearStage:
    """Cleans 10 ms frames linearly against the reference, once the echo lag is known.

    Not thread-safe: called from the microphone thread only, one frame at a time.
    """

    TAIL_S = 0.128  # echo after the measured lag the filter models (reverberation)
    LEAD_S = 0.0025  # the reference starts this much before the measured lag
    MOVED_S = 0.04  # the lag moved this much: a new filter on the new alignment
    WINDOW_S = 0.5  # microphone correlated with the reference over this much audio
    MAX_LAG_S = 0.6
    EVERY_S = 0.2
    THRESHOLD = 0.45  # as the server's presence check: echo 0.55-0.93, none 0.03-0.30

    def __init__(self, rate: int, filter_factory: Any = None) -> None:
        self.rate = rate
        self.failure: str | None = None
        self.lag: int | None = None
        """Samples from the reference to its echo in the microphone (None: not measured)."""
        self._frame = rate // 100
        self._window = int(self.WINDOW_S * rate)
        self._max_lag = int(self.MAX_LAG_S * rate)
        self._near = np.zeros(0, dtype=np.int16)
        self._far = np.zeros(0, dtype=np.int16)
        self._since = 0
        self._factory = filter_factory
        self._filter: Any = None
        self._delay = 0

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        """One 10 ms frame of microphone and of reference; the microphone, linearly cleaned."""
        keep = self._window + self._max_lag + int(self.TAIL_S * self.rate)
        self._near = np.concatenate((self._near, near))[-self._window :]
        self._far = np.concatenate((self._far, far))[-keep:]
        self._since += len(near)
        if self._since >= self.EVERY_S * self.rate and self._far[-self._window :].any():
            self._since = 0
            self._measure_lag()
        if self.lag is None or self.failure is not None:
            return near
        delay = max(0, self.lag - int(self.LEAD_S * self.rate))
        if self._filter is None or abs(delay - self._delay) > self.MOVED_S * self.rate:
            self._restart(delay)
            if self.failure is not None:
                return near
        end = len(self._far) - self._delay
        delayed = self._far[max(0, end - len(near)) : end]
        if len(delayed) < len(near):
            delayed = np.concatenate((np.zeros(len(near) - len(delayed), np.int16), delayed))
        return np.asarray(self._filter.process(near, delayed), dtype=np.int16)

    def _measure_lag(self) -> None:
        span = self._window + self._max_lag
        if len(self._near) < self._window or len(self._far) < span:
            return
        near = self._near.astype(np.float64)
        far = self._far[-span:].astype(np.float64)
        size = 1 << (span + self._window).bit_length()
        # products[j]: the microphone against the reference starting j samples into `far`
        spectrum = np.fft.rfft(far, size) * np.conj(np.fft.rfft(near, size))
        products = np.fft.irfft(spectrum, size)[: self._max_lag + 1]
        squares = np.cumsum(np.concatenate(([0.0], far * far)))
        far_energy = np.maximum(squares[self._window :] - squares[: -self._window], 1e-9)
        near_energy = max(float(np.dot(near, near)), 1e-9)
        correlations = np.abs(products) / np.sqrt(far_energy[: len(products)] * near_energy)
        best = int(np.argmax(correlations))
        if correlations[best] >= self.THRESHOLD:
            self.lag = self._max_lag - best

    def _restart(self, delay: int) -> None:
        try:
            if self._factory is None:
                from speexaec import EchoCanceller as factory
            else:
                factory = self._factory
            self._filter = factory(self._frame, int(self.TAIL_S * self.rate), self.rate)
        except Exception as exc:  # missing or broken: AEC3 alone, as before
            self.failure = f"the linear echo canceller is unavailable ({exc})"
            log.warning("%s; AEC3 alone cleans the microphone", self.failure)
            return
        self._delay = delay
