"""The deadline executor runs the most urgent speech work first, on real threads."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from server.agent_output import AgentOutput
from server.speech.scheduler import DeadlineExecutor, synthesis_executor
from server.speech.segmenter import SpeechSegmenter
from server.speech.tts import load_tts
from server.speech_track import SpeechTrack
from tests.conftest import wait_until


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


async def test_time_a_job_spends_waiting_counts_as_wall_time_but_not_as_cpu() -> None:
    """What /healthz reports per synthesis: wall seconds (the job ran, or waited for a core,
    the GIL or a lock) apart from CPU seconds (the work itself)."""
    executor = DeadlineExecutor(1, "test")
    waited = threading.Event()
    await executor.run(time.monotonic(), waited.wait, 0.2)  # waits, like a job on a lock
    assert executor.stats.done == 1
    assert executor.stats.busy_s >= 0.19
    assert executor.stats.cpu_s < executor.stats.busy_s / 2


async def test_a_listener_about_to_run_dry_goes_before_a_new_answers_first_audio() -> None:
    """Real Piper, the process's own executor and start gate: when the workers can do only one
    of them next, a playing answer's next sentence (its listener runs dry in under half a
    second) is made before a new answer's first piece (due half a second after its start)."""
    voice = load_tts()
    made: list[str] = []

    class Recorded:
        def synthesize(self, text: str, sample_rate: int) -> bytes:
            made.append(text)
            return voice.synthesize(text, sample_rate)

    playing_output = AgentOutput("playing")
    playing_output.append("Sure, ")  # the first clause is made and sent at once
    playing = SpeechTrack(playing_output, Recorded(), SpeechSegmenter(first_clause=True), 16000)
    assert (await playing.next_frame()) is not None  # its listener hears "Sure," now

    executor = synthesis_executor()
    hold = threading.Event()
    blockers = [executor.submit(0.0, hold.wait, 30) for _ in range(executor.workers)]
    try:
        await wait_until(lambda: executor.pending() == 0, message="every worker busy")
        playing_output.append("the weather in the mountains is cold and windy again today.")
        playing_output.finish()
        await wait_until(lambda: executor.pending() == 1, message="the next sentence queued")
        new_output = AgentOutput("new")
        new_output.append("Of course, the museum opens at nine.")
        new_output.finish()
        new = SpeechTrack(new_output, Recorded(), SpeechSegmenter(first_clause=True), 16000)
        new.start()
        await wait_until(lambda: executor.pending() == 2, message="the first piece queued")
    finally:
        hold.set()
    await asyncio.gather(*(asyncio.wrap_future(b) for b in blockers))
    while await playing.next_frame() is not None:
        pass
    while await new.next_frame() is not None:
        pass
    assert made[:3] == [
        "Sure,",
        "the weather in the mountains is cold and windy again today.",
        "Of course,",
    ]
