"""One response: run the routed agents, present them one by one, honour skips.

Agents *produce* concurrently as the flow's DAG allows (an agent starts when
all its predecessors have finished). Their outputs are *presented* one after
another in the flow's deterministic order: each agent's text deltas as they
come, then its speech, paced no more than ~1 s ahead of real time. A skip
(``response.cancel``) ends the current agent's presentation at once; the
agent's text is still completed in the background for its successors and
the history records what the user actually heard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from protocol import events
from server.agent_output import AgentOutput
from server.query import Query, Step
from server.speech_track import FRAME_S, Segmenter, SpeechTrack, Synthesizer

PLAYBACK_LEAD_S = 1.0  # audio sent ahead of the client's playback, at most
BOUNDARY_LEAD_S = 0.3  # the next agent is announced when this little audio is left


@dataclass(slots=True)
class AgentResult:
    agent: str
    full_text: str = ""
    heard_text: str = ""
    skipped: bool = False
    error: str | None = None
    first_text_s: float | None = None
    first_audio_s: float | None = None


@dataclass(slots=True)
class SpeechOut:
    """What a response needs to speak: a voice, a way to cut text, a rate."""

    tts: Synthesizer
    new_segmenter: Callable[[], Segmenter]
    sample_rate: int


Sender = Callable[[events.ServerEvent, str | None], Awaitable[None]]
AgentRunner = Callable[[str, tuple[tuple[str, str], ...], AgentOutput], Awaitable[None]]


@dataclass(slots=True)
class _Presentation:
    agent: str
    task: asyncio.Task[None] | None = None
    skipped: bool = False
    announced: bool = False  # its first text delta went out: the user knows it is speaking
    track: SpeechTrack | None = None
    sent_text: list[str] = field(default_factory=list)
    spoken_segments: int = 0


class Response:
    """Runs one query through a plan of agents and streams the result."""

    def __init__(
        self,
        query: Query,
        plan: list[Step],
        run_agent: AgentRunner,
        send: Sender,
        purge: Callable[[str], None],
        speech: SpeechOut | None,
    ) -> None:
        self.query = query
        self.plan = plan
        self._run_agent = run_agent
        self._send = send
        self._purge = purge
        self._speech = speech
        self.outputs = {step.agent: AgentOutput(step.agent) for step in plan}
        self.results = {step.agent: AgentResult(step.agent) for step in plan}
        self._producers: list[asyncio.Task[None]] = []
        self._tracks: dict[str, SpeechTrack] = {}
        self._current: _Presentation | None = None
        self._previous: _Presentation | None = None  # the agent presented last
        self._play_end = 0.0  # monotonic time the client finishes playing what was sent
        self._playhead_moved = asyncio.Event()
        self.interrupted = False
        self.prepared = False  # begun before its spoken turn had ended
        self._aborted = False
        self.errors: list[str] = []

    # -- control from the session ------------------------------------------

    def skip_current(self) -> bool:
        """Skip the agent being heard; False if there is none.

        Between agents (the next one not yet announced) the agent being heard
        is the previous one, whose last audio is still playing on the client:
        it is marked skipped and the next agent starts at once.
        """
        current = self._current
        if current is not None and not current.announced:
            previous = self._previous
            if previous is None or previous.skipped or self._play_end <= time.monotonic():
                return False
            previous.skipped = True
            self.results[previous.agent].skipped = True
            self._client_dropped_audio()
            return True
        if current is None or current.skipped:
            return False
        self._client_dropped_audio()
        current.skipped = True
        self.results[current.agent].skipped = True
        if current.task is not None:
            current.task.cancel()
        if current.track is not None:
            current.track.cancel()
        self._purge(current.agent)
        return True

    def interrupt(self) -> None:
        """Barge-in: stop all further speech and text of this response."""
        self.interrupted = True
        self._client_dropped_audio()
        current = self._current
        if current is not None and not current.skipped:
            current.skipped = True
            self.results[current.agent].skipped = True
            if current.task is not None:
                current.task.cancel()
            self._purge(current.agent)
        for task in self._producers:
            task.cancel()
        for track in self._tracks.values():
            track.cancel()

    def abort(self) -> None:
        """The session is closing: cancel everything, send nothing more."""
        self._aborted = True
        self.interrupt()

    def _client_dropped_audio(self) -> None:
        """A skipping client drops its queued audio: playback ends now, not later."""
        self._play_end = time.monotonic()
        self._playhead_moved.set()

    def spoken_recently(self) -> str:
        """The text whose speech was sent most recently (to recognise our own echo)."""
        current = self._current
        if current is None or current.track is None:
            return ""
        segments = current.track.segments[: current.spoken_segments]
        return " ".join(segments[-2:])

    # -- running -------------------------------------------------------------

    def produce(self) -> None:
        """Start the agents (and their speech); `run` shows what they make. Called early for
        a turn that is probably over (`RealtimeSession.prepare`), else by `run`."""
        if self._producers:
            return
        for step in self.plan:
            self._producers.append(
                asyncio.create_task(self._produce(step), name=f"agent:{step.agent}")
            )

    async def run(self) -> None:
        await self._send(events.ResponseCreated(), None)
        self.produce()
        try:
            for step in self.plan:
                if self.interrupted:
                    break
                await self._present(step.agent)
        finally:
            if self.interrupted:
                for task in self._producers:
                    task.cancel()
            else:
                # The distiller finishes every agent's text, even skipped ones.
                await asyncio.gather(*self._producers, return_exceptions=True)
            for track in self._tracks.values():
                track.cancel()
        if self._aborted:
            return
        if self.interrupted:
            await self._send(events.ResponseInterrupted(), None)
        await self._send(events.ResponseTextDone(), None)
        if self._speech is not None:
            await self._send(events.ResponseAudioDone(), None)
        await self._send(events.ResponseDone(metadata=self.metadata()), None)

    async def _produce(self, step: Step) -> None:
        output = self.outputs[step.agent]
        try:
            context = []
            for name in step.predecessors:
                context.append((name, await self.outputs[name].wait_done()))
            if self._speech is not None:
                track = SpeechTrack(
                    output,
                    self._speech.tts,
                    self._speech.new_segmenter(),
                    self._speech.sample_rate,
                    on_error=self.errors.append,
                    playback_end=lambda: self._play_end,
                )
                self._tracks[step.agent] = track
                track.start()
            await self._run_agent(step.agent, tuple(context), output)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            output.append(f"{step.agent} could not answer: {exc}")
            output.finish(error=str(exc))
        finally:
            if not output.done:
                output.finish()
            result = self.results[step.agent]
            result.full_text = output.text
            result.error = output.error

    async def _present(self, agent: str) -> None:
        presentation = _Presentation(agent, track=None)
        self._current = presentation
        presentation.task = asyncio.create_task(self._stream_agent(presentation))
        try:
            await presentation.task
        except asyncio.CancelledError:
            if self._aborted or not presentation.skipped:
                raise
        finally:
            self._current = None
            self._previous = presentation
            result = self.results[agent]
            if presentation.track is not None:
                track = presentation.track
                result.heard_text = " ".join(track.segments[: presentation.spoken_segments])
            else:
                result.heard_text = "".join(presentation.sent_text)

    async def _stream_agent(self, presentation: _Presentation) -> None:
        agent = presentation.agent
        output = self.outputs[agent]
        track = self._tracks.get(agent)
        if track is None and self._speech is not None:
            await self._wait_for_track(agent)
            track = self._tracks.get(agent)
        presentation.track = track
        announced = False
        audio_task: asyncio.Task[None] | None = None
        try:
            async for piece in _text_as_it_piles_up(output):
                if not announced:
                    await self._wait_playhead(BOUNDARY_LEAD_S)
                    announced = presentation.announced = True
                    if track is not None:
                        audio_task = asyncio.create_task(self._stream_audio(presentation, track))
                await self._send(events.ResponseTextDelta(content=piece, role=agent), agent)
                presentation.sent_text.append(piece)
                self._stamp_first(agent, "first_text_s")
            if audio_task is not None:
                await audio_task
        finally:
            if audio_task is not None and not audio_task.done():
                audio_task.cancel()

    async def _wait_for_track(self, agent: str) -> None:
        while agent not in self._tracks and not self.outputs[agent].done:
            await self.outputs[agent].changed(timeout=0.05)

    async def _stream_audio(self, presentation: _Presentation, track: SpeechTrack) -> None:
        while True:
            frame = await track.next_frame()
            if frame is None:
                return
            await self._wait_playhead(PLAYBACK_LEAD_S)
            if presentation.skipped:
                # A skip both wakes the playhead wait and cancels this task; when the two
                # meet, asyncio.wait_for can return normally and the cancel is lost
                # (bench.skip saw the skipped agent's speech play on to its end), so the
                # flag, not the cancellation, decides.
                return
            await self._send(events.ResponseAudioDelta(audio=frame.pcm), presentation.agent)
            presentation.spoken_segments = max(presentation.spoken_segments, frame.segment + 1)
            now = time.monotonic()
            duration = len(frame.pcm) / 2 / track.sample_rate
            self._play_end = max(self._play_end, now) + duration
            self._stamp_first(presentation.agent, "first_audio_s")

    async def _wait_playhead(self, lead: float) -> None:
        """Wait until at most ``lead`` seconds of sent audio remain unplayed."""
        while (ahead := self._play_end - time.monotonic()) > lead:
            self._playhead_moved.clear()
            try:
                await asyncio.wait_for(self._playhead_moved.wait(), ahead - lead)
            except TimeoutError:
                return

    def _stamp_first(self, agent: str, attribute: str) -> None:
        result = self.results[agent]
        if getattr(result, attribute) is None:
            setattr(result, attribute, round(time.monotonic() - self.query.received_at, 4))

    def metadata(self) -> dict[str, Any]:
        agents = {
            name: {"first_text_s": r.first_text_s, "first_audio_s": r.first_audio_s}
            for name, r in self.results.items()
        }
        firsts = [r.first_audio_s for r in self.results.values() if r.first_audio_s is not None]
        timings: dict[str, Any] = {"agents": agents, "first_audio_s": min(firsts, default=None)}
        if self.query.asr_s is not None:
            timings["asr_s"] = round(self.query.asr_s, 4)
        if self.prepared:
            timings["prepared"] = True
        meta: dict[str, Any] = {
            "timings": timings,
            "skipped": [name for name, r in self.results.items() if r.skipped],
        }
        failures = {name: r.error for name, r in self.results.items() if r.error}
        if failures or self.errors:
            meta["errors"] = {**failures, **({"speech": self.errors} if self.errors else {})}
        if self.interrupted:
            meta["interrupted"] = True
        return meta


async def _text_as_it_piles_up(output: AgentOutput) -> AsyncIterator[str]:
    """The agent's text as it arrives, with whatever piled up since the last send as one piece.

    A model's tokens arrive one by one and still go out one by one; text that
    arrives in a burst (an executor's result, the echo provider, a presenter
    that waited for the playhead) goes out as one frame instead of a frame per
    word: `bench.load` showed per-frame cost (JSON, WebSocket framing and
    compression, one send each) bounding how many sessions a server holds.
    """
    index = 0
    while True:
        if index < len(output.pieces):
            piece = "".join(output.pieces[index:])
            index = len(output.pieces)
            yield piece
            continue
        if output.done:
            return
        await output.changed(timeout=1.0)


__all__ = ["FRAME_S", "AgentResult", "Response", "SpeechOut"]
