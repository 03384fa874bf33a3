"""A session's ears: turn detection, growing transcripts, end of turn, barge-in.

Microphone audio arrives as ``input_audio_buffer.append`` frames. It is fed,
in order and off the event loop, to a streaming VAD; while the user speaks
the utterance is re-transcribed at most every ~0.5 s of new audio and sent as
``response.audio_transcript.delta`` (the whole transcript so far). The turn
ends after ``silence_ms`` of silence, or when the client stops recording
(a commit followed by no more audio); the final transcript becomes a query.

In ``turn_detection.mode: smart`` (the default) the engine does not wait out
``silence_ms``. As soon as the VAD hears the user stop (``DRAFT_TAIL_MS`` of
silence), the utterance is transcribed as a draft and put to the end-of-turn
detector (`server.speech.end_of_turn`: Smart Turn on the audio, plus the
draft's words and Whisper's confidence in them), off the event loop. Complete,
and the user has stayed quiet for ``PROBE_MS``: the turn ends, with the draft
as its transcript. Not complete: it keeps listening, and ``silence_ms`` of
silence still ends the turn, so no turn is ever held open. Deciding while the
``PROBE_MS`` run out, instead of after, is what keeps the wait short.

Recognition never holds up the audio worker: partial transcripts decode in
the background (one at a time), and once the user has been quiet briefly the
utterance is transcribed as a *draft* during the rest of the silence window,
so when the window closes the final transcript is usually ready already
(`bench.voice_turn` measured ~0.4 s saved per turn; the draft is dropped if
the user speaks again). In smart mode a draft the detector calls complete is
answered at once, held back until the pause confirms it
(`RealtimeSession.prepare`), so the answer's first audio is ready when the
turn ends; a user who goes on speaking drops that answer unseen.

Barge-in (``turn_detection.barge_in``) interrupts an answer when the user
really speaks over it: `server.barge_in` decides, chunk by chunk, on the
microphone cleaned of the engine's own voice (`server.speech.echo`), with
words only to speed the decision up or hold it back, never to block it.

(A little over 400 lines: the turn state these paths share, the draft, the
verdict and the partials, is one thing. The decisions themselves live in
`server.speech.end_of_turn`, `server.barge_in` and `server.speech.echo`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from protocol import events
from server.barge_in import BargeIn, Heard, SpeakingResponse
from server.query import Query
from server.speech.asr import Transcript
from server.speech.echo import ServerEchoCanceller
from server.speech.scheduler import PARTIAL_TRANSCRIPT_SLACK_S, recognition_executor
from server.speech_config import SpeechSpec


class ListeningSession(Protocol):
    """What speech input needs from its session (a `server.session.RealtimeSession`).

    The session owns its `VoiceInput`, so the import points one way only; this
    is the narrow view back that the voice input is given in `attach`.
    """

    @property
    def response(self) -> SpeakingResponse | None: ...

    async def send(self, event: events.ServerEvent, tag: str | None = None) -> None: ...

    async def error(self, message: str) -> None: ...

    async def enqueue(self, query: Query) -> None: ...

    def prepare(self, query: Query) -> bool: ...

    def abandon_prepared(self) -> None: ...

    def warm_up(self) -> None: ...


log = logging.getLogger(__name__)

PARTIAL_EVERY_S = 0.5  # re-decode the growing utterance at most this often (of new audio)
RECORDING_STOPPED_S = 0.4  # a commit with no audio after it for this long ends the turn
PROBE_MS = 200  # smart mode: least silence that can end a turn (most commas pause less)
DRAFT_TAIL_MS = 32  # smart mode: silence after speech before the draft and the verdict start
# (one VAD window: `bench.turn_verdicts` judged 97 pauses at 32 ms against 96 at 64 ms on the
# turn set, with the same cut-offs, and the answer begins 32 ms sooner)
T = TypeVar("T")


# Whisper decodes one at a time, in an executor of its own (waiting in asyncio's
# default pool once held up every session's VAD feeding and history writes),
# most urgent first across sessions: a finished turn's transcript (due now)
# before a partial refresh (`server/speech/scheduler.py`).
async def _recognise(work: Callable[..., T], *args: Any, slack_s: float = 0.0) -> T:
    deadline = time.monotonic() + slack_s
    return await recognition_executor().run(deadline, work, *args)


# End-of-turn decisions (~30 ms each) must not queue behind a decode either.
_DECISION_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="end-of-turn")


class VoiceInput:
    """Speech in for one session; `handle` takes the audio-related client events."""

    def __init__(self, speech: SpeechSpec, vad: Any, asr: Any, end_of_turn: Any = None) -> None:
        from server.speech.turns import TAIL_MS, TurnDetector

        self.spec = speech
        self.sample_rate = speech.sample_rate
        self.asr = asr
        self.end_of_turn = end_of_turn  # None: silence mode
        self.detector = TurnDetector(
            vad,
            speech.sample_rate,
            silence_ms=speech.silence_ms,
            min_speech_ms=speech.min_speech_ms,
            tail_ms=TAIL_MS if end_of_turn is None else DRAFT_TAIL_MS,
        )
        self._judged = -1  # length of the draft last put to the end-of-turn detector
        self._judgement: asyncio.Task[None] | None = None
        self._ends_at = -1  # length of the draft the detector called complete
        self._warmed = False  # the model was asked to read the conversation during this turn
        self.echo = ServerEchoCanceller(speech.sample_rate, vad=vad)  # our voice, out of the mic
        self.session: ListeningSession | None = None
        self._audio: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._last_partial_bytes = 0
        self._last_partial = ""
        self._last_audio_at = 0.0
        self._commit_check: asyncio.Task[None] | None = None
        self.barge_in = BargeIn(self._transcribe_now, self._interrupt)
        self._turn_id = 0  # bumped when a turn ends or is cleared: late partials are dropped
        self._partial_task: asyncio.Task[None] | None = None
        self._draft: tuple[int, asyncio.Task[tuple[Transcript, float]]] | None = None
        self._turn_lock = asyncio.Lock()  # one chunk or one end of turn at a time
        self.client_playing = False

    def attach(self, session: ListeningSession) -> None:
        self.session = session
        self._worker = asyncio.create_task(self._run(), name="voice-input")

    def close(self) -> None:
        draft = self._draft[1] if self._draft else None
        tasks = (self._worker, self._commit_check, self._partial_task, draft, self._judgement)
        for task in tasks:
            if task is not None:
                task.cancel()
        self.barge_in.close()

    # -- events --------------------------------------------------------------

    async def handle(self, event: events.ClientEvent) -> None:
        match event:
            case events.InputAudioBufferAppend(audio=audio):
                if not audio:
                    return
                if self._responding() and not self.spec.barge_in:
                    return  # push-to-talk: the mic is not listened to during an answer
                self._last_audio_at = time.monotonic()
                self.echo.arrived(audio, self._last_audio_at)
                self._audio.put_nowait(audio)
            case events.InputAudioBufferCommit():
                self._schedule_commit_check()
            case events.InputAudioBufferClear():
                self._audio.put_nowait(None)
            case events.PlaybackStarted():
                self.client_playing = True
                self.echo.reference.playback_started()
            case events.PlaybackStopped():
                self.client_playing = False
                self.echo.reference.playback_stopped()

    def _responding(self) -> bool:
        return self.session is not None and self.session.response is not None

    # -- the ordered audio worker -------------------------------------------

    async def _run(self) -> None:
        while True:
            chunk = await self._audio.get()
            async with self._turn_lock:
                await self._process(chunk)

    async def _process(self, chunk: bytes | None) -> None:
        if chunk is None:
            await asyncio.to_thread(self.detector.reset)
            self._reset_turn()
            return
        try:
            update = await asyncio.to_thread(self._clean_and_feed, chunk)
        except Exception as exc:
            await self._send_error(f"audio could not be processed: {exc}")
            return
        if update.ended:
            await self._finish_turn(time.monotonic() - self.spec.silence_ms / 1000)
            return
        self._hear_over_answer(update, chunk)
        if self.detector.has_speech and not self._deciding_barge_in():
            if update.speech_active:
                self._drop_draft()  # the user goes on: that draft is not the turn
                self._start_partial()
                if not self._warmed and self.session is not None:
                    self._warmed = True
                    self.session.warm_up()  # the model reads the conversation meanwhile
            else:
                self._start_draft()
                self._start_judgement()
                if self._verdict_ends_turn():
                    await self._end_judged_turn()

    def _clean_and_feed(self, chunk: bytes) -> Any:
        return self.detector.feed(self.echo.clean(chunk))

    def _start_partial(self) -> None:
        """Re-decode the growing utterance in the background, one decode at a time."""
        if self._partial_task is not None and not self._partial_task.done():
            return  # the audio worker must keep up with real time; skip this one
        audio = self.detector.utterance()
        if len(audio) - self._last_partial_bytes < PARTIAL_EVERY_S * self.sample_rate * 2:
            return
        self._last_partial_bytes = len(audio)
        self._partial_task = asyncio.create_task(self._send_partial(audio, self._turn_id))

    async def _send_partial(self, audio: bytes, turn_id: int) -> None:
        text = await _recognise(
            self.asr.transcribe, audio, self.sample_rate, slack_s=PARTIAL_TRANSCRIPT_SLACK_S
        )
        if turn_id != self._turn_id:
            return  # the turn ended (or was cleared) meanwhile; its final transcript rules
        if text and text != self._last_partial and self.session is not None:
            self._last_partial = text
            await self.session.send(events.TranscriptDelta(delta=text))

    def _start_draft(self) -> None:
        """Transcribe the utterance as it stands, while the silence window is still running."""
        audio = self.detector.pending_utterance()
        if audio is None or (self._draft is not None and self._draft[0] == len(audio)):
            return
        self._draft = (len(audio), asyncio.create_task(self._timed_transcribe(audio)))

    def _drop_draft(self) -> None:
        if self._draft is not None:
            self._draft[1].cancel()  # a decode not started yet never runs
            self._draft = None
            if self.session is not None:
                self.session.abandon_prepared()  # an answer begun on that draft is dropped

    def _verdict_ends_turn(self) -> bool:
        """The detector called this pause's draft complete, and the pause is long enough."""
        return (
            self._draft is not None
            and self._draft[0] == self._ends_at
            and self.detector.quiet_ms >= PROBE_MS
        )

    async def _end_judged_turn(self) -> None:
        speech_end = time.monotonic() - self.detector.quiet_ms / 1000
        if self.detector.end_now():
            await self._finish_turn(speech_end)

    def _start_judgement(self) -> None:
        """Smart mode: ask whether this pause ends the turn (once per pause)."""
        if self.end_of_turn is None or self._draft is None or self._draft[0] == self._judged:
            return
        audio = self.detector.pending_utterance()
        if audio is None:
            return
        self._judged, draft = self._draft
        self._judgement = asyncio.create_task(
            self._judge(self._judged, draft, audio, self._turn_id)
        )

    async def _judge(
        self, length: int, draft: asyncio.Task[tuple[Transcript, float]], audio: bytes, turn_id: int
    ) -> None:
        from server.speech.end_of_turn import decide
        from server.speech.pcm import pcm16_to_float, resample

        model = self.end_of_turn
        asked_at = time.monotonic()
        audio16k = resample(pcm16_to_float(audio), self.sample_rate, 16000)
        loop = asyncio.get_running_loop()
        try:
            probability, cpu_s = await loop.run_in_executor(
                _DECISION_POOL, model.timed_probability, audio16k
            )
        except Exception as exc:  # never hold a turn on a broken model: silence mode
            log.warning("end-of-turn detector failed, silence mode from now on: %s", exc)
            self.end_of_turn = None
            return
        try:
            heard, asr_s = await asyncio.shield(draft)
        except (asyncio.CancelledError, Exception):
            return  # the draft was dropped: speech resumed or the turn ended
        verdict = decide(probability, heard.text, heard.avg_logprob)
        log.debug(
            "end of turn: %s %r (model %.3f s, draft %.3f s, verdict after %.3f s, pause %d ms)",
            verdict,
            heard.text,
            cpu_s,
            asr_s,
            time.monotonic() - asked_at,
            self.detector.quiet_ms,
        )
        if not verdict.complete:
            return  # keep listening; silence_ms of silence still ends the turn
        async with self._turn_lock:
            current = self._draft is not None and self._draft[0] == length
            if turn_id != self._turn_id or not current:
                return
            self._ends_at = length  # the audio worker ends it once PROBE_MS have passed
            if self._verdict_ends_turn():
                await self._end_judged_turn()
            elif heard.text.strip() and self.session is not None:
                # Answer now, show it when the pause confirms the turn (`_finish_turn`).
                speech_end = time.monotonic() - self.detector.quiet_ms / 1000
                self.session.prepare(Query(text=heard.text, received_at=speech_end, asr_s=asr_s))

    async def _timed_transcribe(self, audio: bytes) -> tuple[Transcript, float]:
        def run() -> tuple[Transcript, float]:
            started = time.perf_counter()
            heard = self.asr.transcribe_scored(audio, self.sample_rate)
            return heard, time.perf_counter() - started

        return await _recognise(run)

    def _hear_over_answer(self, update: Any, chunk: bytes) -> None:
        """While an answer plays, let the barge-in policy hear this chunk."""
        session = self.session
        response = session.response if session else None
        if response is None or not self.spec.barge_in:
            return
        heard = Heard(
            update.speech_ms,
            len(chunk) / 2 / self.sample_rate * 1000,
            self.echo.removed_db,
            self.echo.failure is None,
            update.speech_active,
            self.echo.user_speaking,
        )
        self.barge_in.heard(heard, response, self._recent_speech)

    def _recent_speech(self, ms: float) -> bytes:
        """The last `ms` of the current utterance (whole 16-bit samples)."""
        return self.detector.utterance()[-2 * round(ms * self.sample_rate / 1000) :]

    def _deciding_barge_in(self) -> bool:
        """Speech over an answer, not yet judged: Whisper (one decode at a time) is kept free
        for the barge-in check; a partial or a draft would hold it for 0.3-1 s."""
        return self._responding() and self.spec.barge_in and not self.barge_in.fired

    async def _transcribe_now(self, audio: bytes) -> str:
        """The first words, fast (Whisper's `first_words`; a full decode for other recognisers)."""
        quick = getattr(self.asr, "first_words", self.asr.transcribe)
        return await _recognise(quick, audio, self.sample_rate)

    def _interrupt(self, response: SpeakingResponse) -> None:
        response.interrupt()
        self.echo.reference.dropped()

    async def _finish_turn(self, speech_end: float) -> None:
        audio = self.detector.utterance()
        draft, self._draft = self._draft, None
        self._turn_id += 1  # no partial transcript may follow the final one
        if not audio:
            heard, asr_s = Transcript("", 0.0), 0.0
        elif draft is not None and draft[0] == len(audio):
            heard, asr_s = await draft[1]  # decoded during the silence window
        else:
            heard, asr_s = await self._timed_transcribe(audio)
        text = heard.text
        self._reset_turn()
        await asyncio.to_thread(self.detector.reset)
        session = self.session
        if session is None:
            return
        if not text.strip() or (self._responding() and not self.spec.barge_in):
            session.abandon_prepared()
            return  # a turn with no speech in it gets no response
        await session.send(events.TranscriptDone(text=text))
        await session.enqueue(Query(text=text, received_at=speech_end, asr_s=asr_s))

    def _reset_turn(self) -> None:
        self._turn_id += 1
        self._drop_draft()  # a running decode finishes in its thread; its result is unused
        self._judged = -1
        self._ends_at = -1
        self._warmed = False
        self._last_partial_bytes = 0
        self._last_partial = ""
        self.barge_in.reset()

    # -- commits ---------------------------------------------------------------

    def _schedule_commit_check(self) -> None:
        """A commit ends the turn only if the client has stopped recording."""
        if self._commit_check is not None:
            self._commit_check.cancel()
        committed_at = time.monotonic()
        self._commit_check = asyncio.create_task(self._after_commit(committed_at))

    async def _after_commit(self, committed_at: float) -> None:
        await asyncio.sleep(RECORDING_STOPPED_S)
        while not self._audio.empty():  # let the worker catch up with buffered audio
            await asyncio.sleep(0.02)
        async with self._turn_lock:
            if self._last_audio_at > committed_at:
                if self.detector.has_speech:
                    self._start_partial()
                return  # still recording: the commit only refreshed the partial transcript
            if self.detector.has_speech:
                await self._finish_turn(self._last_audio_at)

    async def _send_error(self, message: str) -> None:
        if self.session is not None:
            with contextlib.suppress(Exception):
                await self.session.error(message)
