"""Admission and back-pressure for spoken answers: refuse clearly instead of degrading everyone.

Speech synthesis is the scarce resource of a box full of speaking sessions
(`bench.capacity`): once the cores cannot synthesise audio as fast as the
listeners play it, every session's first audio comes late and playback
stalls. So:

- a **new session** whose answers are spoken is refused (an ``error`` frame
  naming the reason, then close code 1013 "try again later") once
  ``max_speech_sessions`` such sessions are connected. The limit is derived
  from Piper's speed measured on this machine at start (one worker keeps up
  with ``1 / rtf`` listeners; ``UTILISATION`` of the workers is left to
  speech, the rest to the LLM, Whisper and the protocol; a session is
  assumed to listen to answers ``SPEAKING_SHARE`` of the time), and can be
  set with ``--max-speech-sessions``;
- a **new turn** of a speaking session is refused (an ``error`` frame; the
  session stays open, the question is not answered) while the most urgent
  waiting synthesis, or an answer whose start the start gate
  (`server/speech/scheduler.py`) holds, is already more than
  ``max_backlog_s`` past its deadline: the box is behind and a new answer
  would only push everyone's audio later.

Text-only sessions never count: they cost no synthesis.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Protocol

from server.speech.scheduler import (
    DeadlineExecutor,
    start_gate,
    synthesis_executor,
    synthesis_speed,
    synthesis_threads,
)

UTILISATION = 0.8  # share of the synthesis workers speech may plan to use
SPEAKING_SHARE = 0.5  # share of a session's time its answers are playing (assumed)
DEFAULT_RTF = 0.05  # Piper seconds per second of audio on one core, until measured
DEFAULT_BACKLOG_S = 1.0  # how late the most urgent synthesis may be before turns are refused
CALIBRATION_TEXT = (
    "Thanks for asking, the weather in Paris is mild today. "
    "Expect light clouds in the morning and some sun after lunch."
)


class Voice(Protocol):
    def synthesize(self, text: str, sample_rate: int) -> bytes: ...


@dataclass(slots=True)
class Counters:
    speech_sessions: int = 0
    refused_sessions: int = 0
    refused_turns: int = 0


class Admission:
    """Counts speaking sessions and decides whether a new session or turn may start."""

    def __init__(
        self,
        max_speech_sessions: int | None = None,
        max_backlog_s: float = DEFAULT_BACKLOG_S,
        executor: DeadlineExecutor | None = None,
    ) -> None:
        self._configured = max_speech_sessions
        self.max_backlog_s = max_backlog_s
        self._executor = executor
        self.rtf = DEFAULT_RTF
        self.measured = False
        self.counters = Counters()

    @property
    def executor(self) -> DeadlineExecutor:
        return self._executor or synthesis_executor()

    @property
    def max_speech_sessions(self) -> int:
        if self._configured is not None:
            return self._configured
        listeners = self.executor.workers / self.rtf  # real-time streams the workers keep up with
        return max(1, math.floor(listeners * UTILISATION / SPEAKING_SHARE))

    def calibrate(self, voice: Voice, sample_rate: int = 16000) -> float:
        """Measure Piper's real-time factor per worker (blocking; best of three runs)."""
        per_worker = synthesis_threads() == 1
        best = math.inf
        for _ in range(3):
            cpu, wall = time.thread_time(), time.perf_counter()
            pcm = voice.synthesize(CALIBRATION_TEXT, sample_rate)
            # One-thread runs: this thread's CPU time (other processes cannot inflate it).
            spent = time.thread_time() - cpu if per_worker else time.perf_counter() - wall
            audio_s = len(pcm) / 2 / sample_rate
            if audio_s > 0:
                best = min(best, spent / audio_s)
        if math.isfinite(best) and best > 0:
            self.rtf, self.measured = best, True
        return self.rtf

    # -- sessions ------------------------------------------------------------

    def enter_session(self) -> str | None:
        """Count a new speaking session in; or the reason it is refused (then not counted)."""
        limit = self.max_speech_sessions
        if self.counters.speech_sessions >= limit:
            self.counters.refused_sessions += 1
            return (
                f"server busy: speech capacity reached ({limit} speaking sessions connected, "
                f"the most this machine can voice without stalls); try again later"
            )
        self.counters.speech_sessions += 1
        return None

    def leave_session(self) -> None:
        self.counters.speech_sessions = max(0, self.counters.speech_sessions - 1)

    # -- turns ---------------------------------------------------------------

    def behind_s(self) -> float:
        """How late the most urgent speech is: a waiting synthesis, or a start held by the gate
        (call on the event loop)."""
        return max(self.executor.most_overdue_s(), start_gate().behind_s())

    def turn_problem(self) -> str | None:
        """Why a new spoken answer may not start now; None if it may."""
        behind = self.behind_s()
        if behind <= self.max_backlog_s:
            return None
        self.counters.refused_turns += 1
        return (
            f"server busy: speech synthesis is {behind:.1f} s behind (limit "
            f"{self.max_backlog_s:g} s); this question was not answered, ask again shortly"
        )

    def status(self) -> dict[str, Any]:
        """The /healthz ``capacity`` field."""
        executor = self.executor
        behind = self.behind_s()
        limit = self.max_speech_sessions
        return {
            "speech_sessions": self.counters.speech_sessions,
            "max_speech_sessions": limit,
            "limit_from": "flag"
            if self._configured is not None
            else (
                f"measured Piper rtf {self.rtf:.4f} x {executor.workers} workers"
                if self.measured
                else f"assumed Piper rtf {self.rtf:g} (not yet measured)"
            ),
            "full": self.counters.speech_sessions >= limit or behind > self.max_backlog_s,
            "synthesis_behind_s": round(behind, 3),
            "max_backlog_s": self.max_backlog_s,
            "synthesis_pending": executor.pending(),
            "starts_held": start_gate().held,  # answers whose speech waited for room to start
            "starts_waiting": start_gate().waiting,
            "synthesis_workers": executor.workers,
            "synthesis_done": executor.stats.done,
            "synthesis_late": executor.stats.late,  # finished after their listener needed them
            "synthesis_late_s": round(executor.stats.late_s, 3),
            # where synthesis time goes: audio made, worker wall and worker CPU seconds
            "synthesis_audio_s": round(synthesis_speed.audio_made_s, 3),
            "synthesis_wall_s": round(executor.stats.busy_s, 3),
            "synthesis_cpu_s": round(executor.stats.cpu_s, 3),
            "refused_sessions": self.counters.refused_sessions,
            "refused_turns": self.counters.refused_turns,
            "cores": os.cpu_count(),
        }
