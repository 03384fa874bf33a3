"""Speech work across all sessions, most urgent first (earliest deadline first).

Every synthesis and every transcription has a deadline: the monotonic time a
listener will need its result (a response's first audio: now; a sentence
queued behind seconds of unplayed audio: when that audio runs out; a final
transcript: now; a partial transcript refresh: a little later). Work used to
run in arrival order in one-worker pools, so the first sentence of a new
answer waited behind later sentences of answers already seconds ahead of
their listeners (`bench.load --tts-sessions 50`: first audio p99 3.2 s).
Here the pending job with the earliest *latest start* (its deadline minus the
time it is expected to take) runs next, on a fixed set of worker threads, so
a long sentence due shortly after a short clause starts first; equal keys
keep their arrival order.

A job whose awaiting task is cancelled (a skip, a closed session) is dropped
before it starts. The executor counts how late finished jobs were, which the
admission check (`server/admission.py`) and `/healthz` read.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

PARTIAL_TRANSCRIPT_SLACK_S = 0.5  # a partial refresh may wait this long behind urgent work


@dataclass(order=True, slots=True)
class _Job:
    start_by: float  # deadline minus expected run time: the order jobs run in
    seq: int
    deadline: float = field(compare=False)
    work: Callable[[], Any] = field(compare=False)
    future: Future[Any] = field(compare=False)


@dataclass(slots=True)
class SchedulerStats:
    """What the executor has done, for /healthz and the admission check."""

    done: int = 0
    late: int = 0  # finished after their deadline
    late_s: float = 0.0  # summed lateness of those
    busy_s: float = 0.0  # wall seconds workers spent running jobs


class DeadlineExecutor:
    """Blocking work on ``workers`` threads, the earliest deadline first."""

    def __init__(self, workers: int, name: str) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.name = name
        self.stats = SchedulerStats()
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []

    def submit(
        self, deadline: float, work: Callable[..., T], *args: Any, cost: float = 0.0
    ) -> Future[T]:
        """Queue ``work(*args)`` to finish by ``deadline`` (time.monotonic() clock); ``cost``:
        the seconds it is expected to run, so it starts by ``deadline - cost``."""
        future: Future[T] = Future()
        job = _Job(deadline - cost, next(self._seq), deadline, lambda: work(*args), future)
        with self._cond:
            self._start_threads()
            heapq.heappush(self._heap, job)
            self._cond.notify()
        return future

    async def run(
        self, deadline: float, work: Callable[..., T], *args: Any, cost: float = 0.0
    ) -> T:
        """Await ``work(*args)`` run by deadline order; cancelling drops a job not yet started."""
        return await asyncio.wrap_future(self.submit(deadline, work, *args, cost=cost))

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def most_overdue_s(self, now: float | None = None) -> float:
        """How far past its deadline the most urgent waiting job is (0 if none is late)."""
        with self._cond:
            if not self._heap:
                return 0.0
            head = min(job.deadline for job in self._heap)
        return max(0.0, (time.monotonic() if now is None else now) - head)

    def _start_threads(self) -> None:
        while len(self._threads) < self.workers:
            thread = threading.Thread(
                target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                job = heapq.heappop(self._heap)
            if not job.future.set_running_or_notify_cancel():
                continue  # its waiter went away: nobody needs this result
            started = time.monotonic()
            try:
                result = job.work()
            except BaseException as exc:  # handed to the waiter, never lost in the thread
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)
            finished = time.monotonic()
            with self._cond:
                self.stats.done += 1
                self.stats.busy_s += finished - started
                if finished > job.deadline:
                    self.stats.late += 1
                    self.stats.late_s += finished - job.deadline


_planned_workers: int | None = None


def plan_tts_workers(llm_threads: int) -> None:
    """Leave the cores a local LLM uses to it: call before the first synthesis."""
    global _planned_workers
    _planned_workers = max(1, _cores() - llm_threads)


def tts_workers() -> int:
    """Synthesis threads: one per core the local LLM leaves free (``DISTILLER_TTS_WORKERS``
    overrides).

    Measured on 2 cores (docs/bench.md, "Piper workers per core"): without a
    local LLM, two single-threaded Piper runs side by side synthesise as much
    audio as one two-threaded run on a quiet box and more on a busy one; with
    the embedded LLM's thread beside them, two workers took its core and one
    worker gave as good first audio with fewer gaps.
    """
    configured = os.environ.get("DISTILLER_TTS_WORKERS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return _planned_workers if _planned_workers is not None else _cores()


def _cores() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def synthesis_threads() -> int:
    """onnxruntime threads per Piper run: 1 when workers run side by side, else every core."""
    return 1 if tts_workers() > 1 else _cores()


_executors: dict[str, DeadlineExecutor] = {}
_executors_guard = threading.Lock()


def synthesis_executor() -> DeadlineExecutor:
    """The process-wide executor every session's speech synthesis runs on."""
    return _shared("tts", tts_workers)


def recognition_executor() -> DeadlineExecutor:
    """The process-wide executor for Whisper (one decode at a time: it uses all cores)."""
    return _shared("asr", lambda: 1)


def _shared(name: str, workers: Callable[[], int]) -> DeadlineExecutor:
    with _executors_guard:
        if name not in _executors:
            _executors[name] = DeadlineExecutor(workers(), name)
        return _executors[name]
