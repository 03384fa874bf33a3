"""The deadline executor runs the most urgent speech work first, on real threads."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from server.speech.scheduler import DeadlineExecutor


async def test_waiting_work_runs_earliest_deadline_first_and_cancelled_work_not_at_all() -> None:
    executor = DeadlineExecutor(1, "test")
    gate = threading.Event()
    ran: list[str] = []
    now = time.monotonic()
    blocker = executor.submit(now, gate.wait, 30)  # holds the only worker
    later = [executor.submit(now + 5 + i, ran.append, f"later {i}") for i in range(3)]
    dropped = executor.submit(now + 1, ran.append, "cancelled")
    urgent = executor.submit(now, ran.append, "first audio")
    assert dropped.cancel()
    gate.set()
    await asyncio.wrap_future(blocker)
    await asyncio.gather(*(asyncio.wrap_future(f) for f in [*later, urgent]))
    assert ran == ["first audio", "later 0", "later 1", "later 2"]
    assert executor.pending() == 0


async def test_an_error_in_the_work_reaches_the_waiter() -> None:
    executor = DeadlineExecutor(2, "test")

    def broken() -> None:
        raise ValueError("voice failed")

    with pytest.raises(ValueError, match="voice failed"):
        await executor.run(time.monotonic(), broken)
    assert await executor.run(time.monotonic(), lambda: 42) == 42
