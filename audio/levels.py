"""Input/output level meters shared between an audio thread and the UI.

The device thread calls `LevelMeter.update` once per audio block; the UI reads
`snapshot()` on its own timer (<= 30 Hz). Nothing is posted to the UI per block,
and neither side takes a lock: the writer only assigns list slots and swaps one
tuple, which are atomic under the GIL, so a reader at worst sees one block of
lag — harmless for a meter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FLOOR_DBFS = -100.0
"""Reported for digital silence (the quietest non-zero PCM16 sample is about -90 dBFS)."""

WAVEFORM_FLOOR_DBFS = -60.0
"""The waveform maps [-60 dBFS, 0 dBFS] onto [0, 1]: quieter than -60 draws as silence."""

DEFAULT_HISTORY = 64
"""Waveform points kept: 64 blocks of 20 ms is about 1.3 s of history."""

_FULL_SCALE = 32768.0


def dbfs(amplitude: float) -> float:
    """Linear amplitude (1.0 = full scale) to dBFS, clamped at `FLOOR_DBFS`."""
    if amplitude <= 0.0:
        return FLOOR_DBFS
    return max(FLOOR_DBFS, 20.0 * math.log10(amplitude))


def block_levels(pcm: np.ndarray) -> tuple[float, float]:
    """(rms_dbfs, peak_dbfs) of one block of int16 samples.

    Full scale is the int16 range, so a full-scale sine reads peak 0 dBFS and
    RMS -3 dBFS.
    """
    if pcm.size == 0:
        return FLOOR_DBFS, FLOOR_DBFS
    x = pcm.astype(np.float64)
    rms = math.sqrt(float(np.dot(x, x)) / x.size) / _FULL_SCALE
    peak = float(np.max(np.abs(x))) / _FULL_SCALE
    return dbfs(rms), dbfs(peak)


def normalised(level_dbfs: float) -> float:
    """dBFS to the 0..1 scale meters draw (see `WAVEFORM_FLOOR_DBFS`)."""
    return min(1.0, max(0.0, 1.0 - level_dbfs / WAVEFORM_FLOOR_DBFS))


@dataclass(frozen=True, slots=True)
class LevelSnapshot:
    """What a meter widget needs, read in one cheap call."""

    rms_dbfs: float
    """RMS of the most recent block, dBFS."""
    peak_dbfs: float
    """Largest sample of the most recent block, dBFS."""
    waveform: tuple[float, ...]
    """Per-block RMS on the 0..1 meter scale, oldest first (see `normalised`)."""
    active: bool
    """True while the stream feeds this meter (capturing, or playing queued audio)."""


class LevelMeter:
    """A ring buffer of recent block levels; one writer thread, any number of readers."""

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        if history < 1:
            raise ValueError(f"level history must hold at least 1 point, got {history}")
        self._ring: list[float] = [0.0] * history
        self._count = 0
        self._latest: tuple[float, float] = (FLOOR_DBFS, FLOOR_DBFS)
        self.active = False

    def update(self, pcm: np.ndarray) -> None:
        """Record one block of int16 samples (called on the audio thread)."""
        rms, peak = block_levels(pcm)
        self._latest = (rms, peak)
        self._ring[self._count % len(self._ring)] = normalised(rms)
        self._count += 1

    def reset(self) -> None:
        """Forget the history, e.g. when a new recording starts."""
        self._ring = [0.0] * len(self._ring)
        self._count = 0
        self._latest = (FLOOR_DBFS, FLOOR_DBFS)

    def levels(self) -> tuple[float, ...]:
        """Waveform history only, oldest first: fits `widgets.level_meter.LevelSource`."""
        ring = self._ring
        start = self._count % len(ring)
        return tuple(ring[start:] + ring[:start])

    def snapshot(self) -> LevelSnapshot:
        """Current levels and history; cheap enough for a 30 Hz UI timer."""
        rms, peak = self._latest
        return LevelSnapshot(rms, peak, self.levels(), self.active)
