"""Simulated device clocks for the null and file backends.

Real devices call back once per block in real time; these backends imitate that
with a deadline-based thread (no drift), or run as fast as the other side allows
when real-time pacing is switched off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

Step = Callable[[], float | None]
"""Does one block of work; returns seconds to wait before the next step, or None to stop."""

BACKLOG_HIGH_WATER = 25
"""A fast (non-real-time) source waits while this many blocks are still unread."""

_MAX_LAG_S = 0.2
"""If the thread falls further behind than this, it resynchronises instead of bursting."""


class PacedThread:
    """Runs `step` repeatedly on a daemon thread until stopped or `step` returns None."""

    def __init__(self, name: str, step: Step) -> None:
        self._step = step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread, so no step runs after this returns."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        deadline = time.monotonic()
        while not self._stop.is_set():
            wait = self._step()
            if wait is None:
                return
            if wait <= 0.0:
                deadline = time.monotonic()
                continue
            deadline += wait
            now = time.monotonic()
            if deadline < now - _MAX_LAG_S:
                deadline = now
            if deadline > now:
                self._stop.wait(deadline - now)


def output_clock(
    pull: Callable[[np.ndarray], int],
    block: int,
    period_s: float,
    realtime: bool,
    played: Callable[[np.ndarray], None] | None = None,
) -> Step:
    """A step that pulls one block for a simulated speaker.

    Real time: one block per period. Fast: back to back while there is audio,
    one period apart while idle (so an idle fast speaker does not spin).
    `played` sees the real samples of each block, e.g. to write them to a file.
    """
    buffer = np.zeros(block, dtype=np.int16)

    def step() -> float:
        real = pull(buffer)
        if played is not None and real:
            played(buffer[:real])
        if realtime or not real:
            return period_s
        return 0.0

    return step


def input_clock(
    next_block: Callable[[], np.ndarray | None],
    push: Callable[[np.ndarray], None],
    backlog: Callable[[], int],
    end: Callable[[], None],
    period_s: float,
    realtime: bool,
) -> Step:
    """A step that pushes one block for a simulated microphone.

    `next_block()` returns the next block, or None at the end of the source.
    Real time: one block per period. Fast: as fast as the reader keeps up.
    """

    def step() -> float | None:
        if not realtime and backlog() >= BACKLOG_HIGH_WATER:
            return period_s / 4
        block = next_block()
        if block is None:
            end()
            return None
        push(block)
        return period_s if realtime else 0.0

    return step
