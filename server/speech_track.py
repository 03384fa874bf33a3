"""Speaking one agent's streaming text: segment, synthesise off the loop, frame.

A track turns an `AgentOutput` into PCM16 frames at the session's rate. It
runs ahead of playback only by a bounded amount of audio, so a skip wastes
little synthesis, and it can start while an earlier agent is still speaking.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from server.agent_output import AgentOutput
from server.speech.scheduler import start_gate, synthesis_executor, synthesis_speed
from server.speech.segmenter import ends_like_sentence

FRAME_S = 0.12  # audio per response.audio.delta frame
SYNTH_AHEAD_S = 2.0  # synthesised audio a track may hold before it is sent
# A new answer's first audio is due this long after its speech starts (the target is
# first audio p99 <= 1.0 s): a listener whose audio runs out sooner goes first.
FIRST_AUDIO_BUDGET_S = 0.5

# Syntheses of every session share one deadline-ordered executor of their own
# (not asyncio's default pool, where waiting speech once parked every worker
# and held up history writes): the most urgent audio is synthesised first.


class Synthesizer(Protocol):
    def synthesize(self, text: str, sample_rate: int) -> bytes: ...


class Segmenter(Protocol):
    def push(self, text: str, now: float) -> list[str]: ...
    def due(self, now: float) -> list[str]: ...
    def flush(self) -> list[str]: ...


@dataclass(slots=True)
class AudioFrame:
    pcm: bytes
    segment: int  # index into SpeechTrack.segments: which text this audio speaks


class SpeechTrack:
    """Frames of one agent's speech, produced ahead of playback by a bounded amount."""

    def __init__(
        self,
        output: AgentOutput,
        tts: Synthesizer,
        segmenter: Segmenter,
        sample_rate: int,
        *,
        on_error: Callable[[str], None] | None = None,
        playback_end: Callable[[], float] = lambda: 0.0,
    ) -> None:
        """``playback_end``: monotonic time the listener finishes the audio already sent
        (0 or the past: nothing is playing); with the audio this track holds it decides
        when the next synthesis is needed."""
        self.output = output
        self.tts = tts
        self.segmenter = segmenter
        self.sample_rate = sample_rate
        self.segments: list[str] = []
        self.synth_seconds = 0.0
        self._frames: asyncio.Queue[AudioFrame | None] = asyncio.Queue()
        self._buffered_s = 0.0
        self._room = asyncio.Event()
        self._room.set()
        self._on_error = on_error
        self._task: asyncio.Task[None] | None = None
        self._playback_end = playback_end
        self._first_due = time.monotonic() + FIRST_AUDIO_BUDGET_S
        self._spoke = False  # some audio of this track has been made
        self._unmade: list[str] = []  # known pieces not yet synthesised, in order
        self._started = False  # through the start gate

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"speech:{self.output.agent}")

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def next_frame(self) -> AudioFrame | None:
        """The next frame to send, or None when the agent's speech is over."""
        self.start()
        frame = await self._frames.get()
        if frame is not None:
            self._buffered_s -= len(frame.pcm) / 2 / self.sample_rate
            if self._buffered_s <= SYNTH_AHEAD_S:
                self._room.set()
        return frame

    async def _run(self) -> None:
        try:
            index = 0
            while True:
                now = time.monotonic()
                pending: list[str] = []
                while index < len(self.output.pieces):
                    pending += self.segmenter.push(self.output.pieces[index], now)
                    index += 1
                finished = self.output.done and index >= len(self.output.pieces)
                pending += self.segmenter.flush() if finished else self.segmenter.due(now)
                await self._speak(pending)
                if finished:
                    break
                if not pending:
                    await self.output.changed(timeout=0.25)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a model failure must not kill the response
            if self._on_error:
                self._on_error(f"speech synthesis failed for {self.output.agent}: {exc}")
        finally:
            self._frames.put_nowait(None)
            if self._started:
                start_gate().leave(self)

    def deadline(self) -> float:
        """When the listener will need this track's next audio: after what was sent and
        what is held here has played; the first audio when the first-audio budget is spent
        (or when an earlier agent's audio runs out)."""
        start = time.monotonic() if self._spoke else self._first_due
        return max(start, self._playback_end()) + self._buffered_s

    def demand(self, now: float) -> list[tuple[float, float]]:
        """(deadline, expected worker seconds) of each known piece not yet made (`StartGate`).

        Before the first audio, playback is assumed to start as soon as the first piece
        can be made (so its next pieces fall due as early as they could)."""
        unmade = self._unmade
        if not unmade:
            return []
        cost = synthesis_speed.seconds_for
        items: list[tuple[float, float]] = []
        if self._spoke:
            at = self.deadline()  # the listener runs dry then: the next piece starts playing
        else:
            first = cost(unmade[0])
            items.append((max(self.deadline(), now + first), first))
            at = max(now + first, self._playback_end()) + synthesis_speed.audio_for(unmade[0])
            unmade = unmade[1:]
        for text in unmade:
            items.append((at, cost(text)))
            at += synthesis_speed.audio_for(text)
        return items

    def lengthen_first_piece(self) -> None:
        """The start gate found no room for it as it is: speak the whole first sentence as the
        first piece, not just its first clause, so the next piece is not due a fraction of a
        second after it."""
        if len(self._unmade) > 1 and not ends_like_sentence(self._unmade[0]):
            self._unmade[:2] = [f"{self._unmade[0]} {self._unmade[1]}"]

    def _synthesize(self, text: str) -> bytes:
        """On a worker: the audio, and how long it took (the speed later pieces are planned by)."""
        started = time.perf_counter()
        pcm = self.tts.synthesize(text, self.sample_rate)
        audio_s = len(pcm) / 2 / self.sample_rate
        synthesis_speed.observe(len(text), time.perf_counter() - started, audio_s)
        return pcm

    async def _speak(self, texts: list[str]) -> None:
        self._unmade += [text for text in texts if text.strip()]
        while self._unmade:
            await self._room.wait()
            if not self._started:
                await start_gate().enter(self)  # may merge the first two pieces
                self._started = True
            text = self._unmade[0]
            started = time.perf_counter()
            pcm = await synthesis_executor().run(
                self.deadline(), self._synthesize, text, cost=synthesis_speed.seconds_for(text)
            )
            self._unmade.pop(0)
            self._spoke = True
            start_gate().wake()
            self.synth_seconds += time.perf_counter() - started
            index = len(self.segments)
            self.segments.append(text)
            step = int(FRAME_S * self.sample_rate) * 2
            for offset in range(0, len(pcm), step):
                chunk = pcm[offset : offset + step]
                self._frames.put_nowait(AudioFrame(chunk, index))
                self._buffered_s += len(chunk) / 2 / self.sample_rate
            if self._buffered_s > SYNTH_AHEAD_S:
                self._room.clear()
