"""``CancelOnKeypress``: the spacebar as a per-agent cancel trigger.

A background thread puts the terminal in cbreak mode (keys arrive at once,
without Enter or echo) and sets an ``asyncio.Event`` when SPACE is pressed.
While the event is set it stops reading keys, so one press skips one agent;
the voice methods clear the event when the next agent starts, which re-arms
it. The terminal's settings are restored on exit, whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import warnings
from typing import IO, Any

__all__ = ["CancelOnKeypress"]

_POLL_SECONDS = 0.1
_warned_not_a_terminal = False


def _warn_not_a_terminal() -> None:
    global _warned_not_a_terminal
    if not _warned_not_a_terminal:
        _warned_not_a_terminal = True
        warnings.warn(
            "CancelOnKeypress: standard input is not a terminal, so SPACE cannot cancel; "
            "the cancel event will never be set by a keypress",
            RuntimeWarning,
            stacklevel=3,
        )


class CancelOnKeypress:
    """``async with CancelOnKeypress() as cancel_event:`` — SPACE sets ``cancel_event``.

    ``stream`` is the terminal to read (standard input by default).
    """

    def __init__(self, stream: IO[Any] | None = None) -> None:
        self._stream = stream
        self._event: asyncio.Event | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def __aenter__(self) -> asyncio.Event:
        self._event = asyncio.Event()
        stream = self._stream if self._stream is not None else sys.stdin
        if stream is None or not _is_terminal(stream):
            _warn_not_a_terminal()
            return self._event
        loop = asyncio.get_running_loop()
        target = _poll_windows if sys.platform == "win32" else _poll_unix
        self._stop.clear()
        started = threading.Event()
        self._thread = threading.Thread(
            target=target,
            args=(stream.fileno(), self._event, loop, self._stop, started),
            name="cancel-on-keypress",
            daemon=True,
        )
        self._thread.start()
        # Return only once cbreak mode is on, so an early press is not echoed.
        await asyncio.to_thread(started.wait, 1.0)
        return self._event

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 2.0)
            self._thread = None


def _is_terminal(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _poll_unix(
    fd: int,
    event: asyncio.Event,
    loop: asyncio.AbstractEventLoop,
    stop: threading.Event,
    started: threading.Event,
) -> None:
    import select
    import termios
    import tty

    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        started.set()
        return
    try:
        tty.setcbreak(fd)
        started.set()
        while not stop.is_set():
            if event.is_set():  # one press per agent: wait until the event is re-armed
                stop.wait(_POLL_SECONDS / 2)
                continue
            ready, _, _ = select.select([fd], [], [], _POLL_SECONDS)
            if ready:
                key = os.read(fd, 1)
                if not key:  # the terminal went away
                    return
                if key == b" ":
                    # asyncio.Event is not thread-safe: set it on the loop's thread.
                    loop.call_soon_threadsafe(event.set)
                    stop.wait(_POLL_SECONDS / 2)  # let the loop run it before re-checking
    except (OSError, RuntimeError, termios.error):  # closed loop or terminal
        return
    finally:
        started.set()
        with contextlib.suppress(termios.error):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _poll_windows(
    fd: int,
    event: asyncio.Event,
    loop: asyncio.AbstractEventLoop,
    stop: threading.Event,
    started: threading.Event,
) -> None:  # pragma: no cover - exercised on Windows only
    import msvcrt

    started.set()
    while not stop.is_set():
        if event.is_set():
            stop.wait(_POLL_SECONDS / 2)
            continue
        if msvcrt.kbhit():  # type: ignore[attr-defined]
            if msvcrt.getwch() == " ":  # type: ignore[attr-defined]
                loop.call_soon_threadsafe(event.set)
                stop.wait(_POLL_SECONDS / 2)
        else:
            stop.wait(_POLL_SECONDS)
