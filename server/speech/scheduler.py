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

Deadline order cannot help once more answers have started than the workers
can voice: every listener then stalls in turn (a burst of 50 answers: a gap
in every one). So a new answer's speech starts only through the `StartGate`,
which holds it while starting it would make some listener run dry (the work
already due, plus its own, exceeds what the workers do by then). A held
answer costs first-audio time; a started one that starves costs a gap, and a
gap is never acceptable.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

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
    cpu_s: float = 0.0  # CPU seconds of those threads meanwhile (busy_s minus waiting for a core,
    # the GIL or a lock): how much of the wall time the work itself took


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
            started, cpu = time.monotonic(), time.thread_time()
            result: Any = None
            error: BaseException | None = None
            try:
                result = job.work()
            except BaseException as exc:  # handed to the waiter, never lost in the thread
                error = exc
            finished, cpu = time.monotonic(), time.thread_time() - cpu
            with self._cond:  # counted before the waiter hears: /healthz never lags the audio
                self.stats.done += 1
                self.stats.busy_s += finished - started
                self.stats.cpu_s += cpu
                if finished > job.deadline:
                    self.stats.late += 1
                    self.stats.late_s += finished - job.deadline
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)


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


class SynthesisSpeed:
    """Worker seconds and seconds of audio per character of text, learned from recent
    syntheses (wall time on a worker: on a shared box, what the cores really give)."""

    WINDOW = 32  # syntheses remembered
    DEFAULT_S_PER_CHAR = 0.002  # Piper on one core of this box, until measured
    DEFAULT_AUDIO_PER_CHAR = 0.06  # the bundled voice

    def __init__(self) -> None:
        self._recent: list[tuple[int, float, float]] = []
        self.audio_made_s = 0.0  # all audio synthesised (/healthz: CPU per audio second)

    def observe(self, chars: int, seconds: float, audio_s: float) -> None:
        self.audio_made_s += audio_s
        if chars > 0 and seconds > 0 and audio_s > 0:
            self._recent = [*self._recent[-(self.WINDOW - 1) :], (chars, seconds, audio_s)]

    def seconds_for(self, text: str) -> float:
        """Expected worker seconds to synthesise ``text``."""
        return len(text) * self._per_char(1, self.DEFAULT_S_PER_CHAR)

    def audio_for(self, text: str) -> float:
        """Expected seconds of speech ``text`` turns into."""
        return len(text) * self._per_char(2, self.DEFAULT_AUDIO_PER_CHAR)

    def _per_char(self, column: int, default: float) -> float:
        recent = self._recent  # replaced, never changed in place: safe to read from any thread
        chars = sum(row[0] for row in recent)
        return sum(row[column] for row in recent) / chars if chars else default


synthesis_speed = SynthesisSpeed()  # one voice, one set of workers: one speed for every track


class Stream(Protocol):
    """One answer's speech, as the start gate sees it."""

    def demand(self, now: float) -> list[tuple[float, float]]:
        """(deadline, expected worker seconds) of each piece of known text not yet made."""
        ...

    def lengthen_first_piece(self) -> None:
        """It does not fit as it is: make its first piece longer (its next one less urgent)."""
        ...


class StartGate:
    """Starts a new answer's speech only while the workers can keep every started one playing.

    The test is the processor-demand one of deadline scheduling: for every
    deadline after the newcomer's first piece, the work due by then (all
    started answers' known pieces and the newcomer's) must fit ``workers x
    (deadline - now) x UTILISATION``. Work due before the newcomer's first piece
    runs before it anyway, and a late first piece is only later first audio, so
    only later shortfalls hold it: the start is held only when a gap would
    otherwise be certain. Held answers start first come,
    first served, re-checked whenever a synthesis finishes and every
    ``RECHECK_S``.
    """

    UTILISATION = 0.9  # share of the workers' measured speed the test may count on
    RECHECK_S = 0.05

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.held = 0  # starts that had to wait
        self._started: set[Stream] = set()
        # (stream, its start, when its first audio was due)
        self._waiting: deque[tuple[Stream, asyncio.Future[None], float]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    async def enter(self, stream: Stream) -> None:
        """Return once ``stream`` may start synthesising."""
        if not self._waiting:
            if self._fits(stream):
                self._started.add(stream)
                return
            stream.lengthen_first_piece()
            if self._fits(stream):
                self._started.add(stream)
                return
        self.held += 1
        stream.lengthen_first_piece()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        own = stream.demand(time.monotonic())
        self._waiting.append((stream, future, own[0][0] if own else time.monotonic()))
        self._arm()
        try:
            await future
        except asyncio.CancelledError:
            self.leave(stream)
            raise

    def leave(self, stream: Stream) -> None:
        """The stream needs no more synthesis (spoken, skipped or closed)."""
        self._started.discard(stream)
        self._waiting = deque(w for w in self._waiting if w[0] is not stream)
        self.wake()

    def wake(self) -> None:
        """Something changed (a synthesis finished): start whoever fits now, in order."""
        while self._waiting:
            stream, future, _ = self._waiting[0]
            if not future.done():
                if not self._fits(stream):
                    break
                self._started.add(stream)
                future.set_result(None)
            self._waiting.popleft()
        self._arm()

    def behind_s(self, now: float | None = None) -> float:
        """How far past its first audio's deadline the longest-held start is (0 if none)."""
        if not self._waiting:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - self._waiting[0][2])

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _arm(self) -> None:
        if self._waiting and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.RECHECK_S, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.wake()

    def _fits(self, candidate: Stream) -> bool:
        if not self._started:
            return True  # no listener to protect: holding would only delay this one
        now = time.monotonic()
        own = candidate.demand(now)
        if not own:
            return True
        first = own[0][0]
        rate = self.workers * self.UTILISATION
        work = 0.0
        items = sorted([*own, *(item for s in self._started for item in s.demand(now))])
        for deadline, cost in items:
            work += cost
            if deadline > first and work > rate * (deadline - now):
                return False
        return True


_gates: dict[int, StartGate] = {}


def start_gate() -> StartGate:
    """The start gate of the running event loop (the server has one)."""
    loop_id = id(asyncio.get_running_loop())
    gate = _gates.get(loop_id)
    if gate is None:
        _gates.clear()  # a new loop (tests start several): the old gate's streams are gone
        gate = _gates[loop_id] = StartGate(synthesis_executor().workers)
    return gate
