"""Sample-rate conversion between the session rate and a device's native rate.

Most devices accept the session rate directly (then this is a no-op); some
(raw ALSA hw devices, WASAPI shared mode) only run at 44.1/48 kHz.
"""

from __future__ import annotations

import numpy as np


class StreamResampler:
    """Converts int16 mono chunk by chunk, keeping filter state across chunks (no clicks)."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = None
        if in_rate != out_rate:
            import soxr

            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16")

    @property
    def converts(self) -> bool:
        return self._stream is not None

    def process(self, samples: np.ndarray, *, last: bool = False) -> np.ndarray:
        """Next converted chunk; `last=True` flushes the filter's tail and starts over."""
        if self._stream is None:
            return samples
        out = self._stream.resample_chunk(samples.astype(np.int16, copy=False), last=last)
        if last:
            self._stream.clear()
        return out

    def reset(self) -> None:
        """Forget buffered input, e.g. after playback was dropped."""
        if self._stream is not None:
            self._stream.clear()


def resample_all(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Convert a whole int16 mono signal at once (for files loaded into memory)."""
    if in_rate == out_rate:
        return samples
    import soxr

    return soxr.resample(samples.astype(np.int16, copy=False), in_rate, out_rate)
