"""The queue of audio waiting for the speaker, shared by the event loop and the device thread.

The loop thread calls `put` and `drop`; the device thread calls `pull`. No
locks: chunks move through a deque (whose append/popleft are atomic), and each
counter has exactly one writer thread, so `pull` can never wait on the loop.

Accounting is exact: every sample put is eventually counted once as played
(handed to the device), dropped (removed by `drop`) or discarded (a partial
chunk the device thread held when a drop happened).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import numpy as np

from audio.levels import LevelMeter


class PlaybackQueue:
    """Queued PCM16 samples at the device rate."""

    def __init__(self, block: int, meter: LevelMeter, notify: Callable[[], None]) -> None:
        self.block = block
        """Chunk size for `put`; the actor sets it once the device's rate is known."""
        self._meter = meter
        self._notify = notify
        self._chunks: deque[np.ndarray] = deque()
        self._epoch = 0
        # Written by the loop thread only:
        self.enqueued = 0
        self.dropped = 0
        self.notify_at: float = math.inf
        """`pull` calls `notify` once `done` reaches this (a waiter's target)."""
        # Written by the device thread only:
        self.played = 0
        self.discarded = 0
        self.sounding = False
        """True while the device is being fed queued audio."""
        self.starts = 0
        """How many times the device went from silence to queued audio."""
        self.tap: Callable[[np.ndarray], None] | None = None
        """Sees every block handed to the device, silence included (the echo reference)."""

    @property
    def done(self) -> int:
        """Samples that left the queue: played, dropped or discarded."""
        return self.played + self.dropped + self.discarded

    @property
    def outstanding(self) -> int:
        """Samples still to be played."""
        return max(0, self.enqueued - self.done)

    # loop thread -------------------------------------------------------------

    def put(self, samples: np.ndarray) -> None:
        """Queue samples, split into device-block chunks so a drop cuts at most one block late."""
        # Count first, so `done` can never run ahead of `enqueued`.
        self.enqueued += len(samples)
        for start in range(0, len(samples), self.block):
            self._chunks.append(samples[start : start + self.block])

    def drop(self) -> int:
        """Remove everything queued now; returns the number of samples removed."""
        self._epoch += 1
        removed = 0
        while True:
            try:
                removed += len(self._chunks.popleft())
            except IndexError:
                break
        self.dropped += removed
        return removed

    # device thread -----------------------------------------------------------

    def pull(self, out: np.ndarray) -> int:
        """Fill `out` from the queue, pad with silence; returns the real sample count."""
        epoch = self._epoch
        filled = 0
        wanted = len(out)
        while filled < wanted:
            try:
                chunk = self._chunks.popleft()
            except IndexError:
                break
            take = min(len(chunk), wanted - filled)
            out[filled : filled + take] = chunk[:take]
            filled += take
            if take < len(chunk):
                if self._epoch == epoch:
                    self._chunks.appendleft(chunk[take:])
                else:
                    self.discarded += len(chunk) - take
        out[filled:] = 0
        tap = self.tap
        if tap is not None:
            tap(out)
        self.played += filled
        self._meter.active = filled > 0
        if filled:
            self._meter.update(out[:filled])
            if not self.sounding:
                self.sounding = True
                self.starts += 1
                self._notify()
        elif self.sounding:
            self.sounding = False
            self._notify()
        if self.done >= self.notify_at:
            self._notify()
        return filled
