"""Captured microphone blocks on their way from the device thread to the event loop.

The device thread pushes, the loop reads. The buffer is bounded: if the reader
falls behind by more than its capacity, the oldest audio is dropped (and
counted) rather than blocking the device callback or growing without end.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from audio.levels import LevelMeter

END = object()
"""Marker pushed when the source has no more audio."""

_PAUSED = 1 << 30


class MicCleaner(Protocol):
    """Cleans captured blocks on the device thread (the echo canceller)."""

    def near(self, captured: np.ndarray) -> np.ndarray: ...
    def flush(self) -> np.ndarray: ...


class CaptureQueue:
    """Bytes of PCM16 at the device rate, one item per device block."""

    def __init__(self, max_blocks: int, meter: LevelMeter, wake: Callable[[], None]) -> None:
        self._blocks: deque[bytes | object] = deque(maxlen=max_blocks)
        self._meter = meter
        self._wake = wake
        self.accepting = False
        """Set by the loop: blocks arriving while False are ignored."""
        self.overruns = 0
        """Blocks lost because the reader fell behind."""
        self.clean: MicCleaner | None = None
        """The echo canceller, set by the loop before capture starts; runs on the device thread."""

    # device thread -----------------------------------------------------------

    def push(self, pcm: np.ndarray) -> None:
        if not self.accepting:
            return
        clean = self.clean
        if clean is not None:
            pcm = clean.near(pcm)
        self._queue(pcm)

    def _queue(self, pcm: np.ndarray) -> None:
        if not len(pcm):
            return  # the canceller is still filling its frame
        self._meter.update(pcm)
        if len(self._blocks) == self._blocks.maxlen:
            self.overruns += 1
        self._blocks.append(pcm.astype("<i2", copy=False).tobytes())
        self._wake()

    def backlog(self) -> int:
        # While not accepting, report "full" so a fast file source pauses instead of
        # racing through the file into a queue that ignores it.
        return len(self._blocks) if self.accepting else _PAUSED

    def end(self) -> None:
        if not self.accepting:
            return  # the source will report its end again when capture restarts
        if self.clean is not None:
            self._queue(self.clean.flush())
        self._blocks.append(END)
        self._wake()

    # loop thread -------------------------------------------------------------

    def pop(self) -> bytes | object | None:
        """The oldest block, `END`, or None if nothing is waiting."""
        try:
            return self._blocks.popleft()
        except IndexError:
            return None

    def waiting(self) -> int:
        """Blocks waiting to be read (unlike `backlog`, never inflated)."""
        return len(self._blocks)

    def clear(self) -> None:
        self._blocks.clear()
