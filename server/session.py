"""One realtime session: a WebSocket, a project version, a user's conversation.

The session reads client frames, answers queries one response at a time
(later queries wait in a queue), keeps the conversation history, and writes
every outgoing frame through a bounded outbox so a skip can withdraw frames
not yet sent and a client that stops reading cannot grow memory without end.

(A little over 400 lines: it is where a turn's queue, its answer and the
history meet. What stands alone lives elsewhere: the outbox, the history
writer, answers begun ahead in `server.prepared_answer`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from protocol import events
from server.agent_output import AgentOutput
from server.agents import AgentContext, ExecutorBroker, run_agent, warm_agent
from server.history_writer import HistoryWriter
from server.llm import ProviderFactory
from server.llm.base import HistoryTurn
from server.orchestrator import plan_for, route
from server.outbox import Outbox, SessionClosed
from server.prepared_answer import PreparedAnswer, settle
from server.project import ProjectSpec
from server.query import Query
from server.response import Response, SpeechOut
from server.store import HistoryEntry, Store, StoreError
from server.tasks import cancel_and_wait
from server.voice_input import VoiceInput

log = logging.getLogger(__name__)


PING_TAG = "\x00ping"  # agent names cannot hold control characters, so no clash
NOT_READING = "Client is not reading: send queue over its limit"


@dataclass(frozen=True, slots=True)
class SessionLimits:
    ping_interval_s: float = 10.0
    executor_timeout_s: float = 30.0
    max_frame_bytes: int = 8 * 1024 * 1024
    max_outbox_bytes: int = 32 * 1024 * 1024
    max_queued_queries: int = 32
    idle_timeout_s: float = 0.0  # 0 = no idle timeout
    pong_timeout_s: float = 0.0  # 0 = never close a session for unanswered PINGs
    history_turns: int = 20


@dataclass(slots=True)
class SessionIdentity:
    account: str
    project: str
    version: int
    uuid: str


class RealtimeSession:
    """The protocol logic of one connection; the transport is given as two callables."""

    def __init__(
        self,
        identity: SessionIdentity,
        spec: ProjectSpec,
        store: Store,
        history_writer: HistoryWriter,
        providers: ProviderFactory,
        default_provider: str,
        limits: SessionLimits,
        send_text: Callable[[str], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
        speech: SpeechOut | None = None,
        voice_input: VoiceInput | None = None,
        turn_gate: Callable[[], str | None] | None = None,
    ) -> None:
        """``turn_gate``: why a new spoken answer may not start now (None: it may)."""
        self.identity = identity
        self.spec = spec
        self.store = store
        self.history_writer = history_writer
        self.limits = limits
        self._send_text = send_text
        self._close = close
        self._speech = self._speech_available = speech
        self.voice = voice_input
        self._turn_gate = turn_gate
        self.outbox = Outbox(limits.max_outbox_bytes)
        self.executors = ExecutorBroker(lambda event: self.send(event))
        self.history: list[HistoryTurn] = []
        self.agent_context = AgentContext(
            project=spec,
            providers=providers,
            default_provider=default_provider,
            executors=self.executors,
            executor_timeout_s=limits.executor_timeout_s,
            history=self.history,
        )
        self._queries: asyncio.Queue[Query | PreparedAnswer] = asyncio.Queue()
        self._prepared: PreparedAnswer | None = None
        self._warming: asyncio.Task[None] | None = None
        self._last_target = spec.orchestrator[0] if spec.orchestrator else ""
        self.response: Response | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._closing = False
        self.ended = asyncio.Event()  # set when the server decides to end the session
        self.close_task: asyncio.Task[None] | None = None
        self.last_activity = self.last_pong = time.monotonic()
        # Bytes written to the socket, and how many of them the client has surely read:
        # a PONG answers the oldest PING, so everything written before it was read.
        self._written = 0
        self._read_by_client = 0
        self._ping_offsets: deque[int] = deque()

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        await self.history_writer.flush()  # a reconnecting user sees their last turn
        try:
            turns = await self.store.recent_history(
                self.identity.account,
                self.identity.project,
                self.identity.uuid,
                self.limits.history_turns,
            )
        except StoreError as exc:  # the conversation can go on; the user is told below
            turns, history_problem = [], f"earlier turns could not be loaded: {exc}"
        else:
            history_problem = ""
        self.history.extend(
            HistoryTurn(role=t.role, text=t.text, agent=t.agent, cut=t.cut)  # type: ignore[arg-type]
            for t in turns
        )
        self._tasks = [
            asyncio.create_task(self._sender(), name="session:sender"),
            asyncio.create_task(self._responder(), name="session:responder"),
            asyncio.create_task(self._pinger(), name="session:pinger"),
        ]
        await self.send(
            events.SessionCreated(
                session={
                    "project": self.identity.project,
                    "project_version": self.identity.version,
                    "uuid": self.identity.uuid,
                    "sample_rate": self.spec.speech.sample_rate,
                    "agents": self.spec.agent_names,
                    "speech": self._speech is not None,
                    "history_turns": len(self.history),
                },
                vad_enabled=self.spec.speech.barge_in and self.voice is not None,
            )
        )
        if history_problem:
            await self.error(history_problem)

    async def shutdown(self) -> None:
        """Stop all work of this session (the client left or the server stops)."""
        self._closing = True
        self.outbox.closed = True
        self.abandon_prepared()
        if self._warming is not None:
            self._warming.cancel()
        if self.response is not None:
            self.response.abort()
        self.executors.cancel_all()
        if self.voice is not None:
            self.voice.close()
        await cancel_and_wait(self._tasks)

    async def close(self, code: int, reason: str) -> None:
        """End the session with a reason the client can read.

        The close frame is sent by a task of its own: towards a client that
        stopped reading it can only go out once the client reads again, and
        nothing else may wait for that. Queued frames are dropped at once.
        """
        if self._closing:
            return
        self._closing = True
        self.outbox.closed = True
        self.outbox.clear()
        self.ended.set()

        async def send_close() -> None:
            with contextlib.suppress(Exception):
                await self._close(code, reason)

        self.close_task = asyncio.create_task(send_close(), name="session:close")

    # -- outgoing ------------------------------------------------------------

    async def send(self, event: events.ServerEvent, tag: str | None = None) -> None:
        if self.voice is not None and isinstance(event, events.ResponseAudioDelta):
            self.voice.echo.reference.sent(event.audio)  # the engine's own voice, for its ears
        try:
            within_bound = self.outbox.put(events.serialize(event), tag)
        except SessionClosed:
            return
        if not within_bound:
            log.warning("closing %s: client is not reading", self.identity)
            await self.close(1008, NOT_READING)

    async def error(self, message: str) -> None:
        await self.send(events.Error(message=message))

    async def _sender(self) -> None:
        """Write frames in order; close a client that stops reading them.

        The transport may accept writes long after the client stopped reading
        (kernel and event-loop buffers), so the bound is on what the client has
        not acknowledged: bytes written since the last answered PING.
        """
        while True:
            frame, tag = await self.outbox.get()
            await self._send_text(frame)
            self._written += len(frame)
            if tag == PING_TAG:
                self._ping_offsets.append(self._written)
            if self._written - self._read_by_client > self.limits.max_outbox_bytes:
                await self.close(1008, NOT_READING)
                return

    async def _pinger(self) -> None:
        """PING every interval; close idle sessions and clients that stopped answering.

        Both closes use a reason starting "Connection timeout", which the
        published SDK turns into its ConnectionTimeoutError, and code 1008:
        the SDK only looks at the reason of a close that is not 1000/1001.
        """
        while True:
            await asyncio.sleep(self.limits.ping_interval_s)
            await self.send(events.Ping(), PING_TAG)
            now = time.monotonic()
            idle = self.limits.idle_timeout_s
            if idle and now - self.last_activity > idle and self.response is None:
                minutes = idle / 60
                await self.close(1008, f"Connection timeout (Idle for {minutes:.3g} minutes)")
                return
            silent = self.limits.pong_timeout_s
            if silent and now - self.last_pong > silent:
                await self.close(1008, f"Connection timeout (no PONG for {silent:g} seconds)")
                return

    # -- incoming ------------------------------------------------------------

    async def receive(self, frame: str | bytes) -> None:
        """Handle one client frame; a bad frame gets an `error` event, never an exception."""
        if len(frame) > self.limits.max_frame_bytes:
            await self.error(
                f"frame of {len(frame)} bytes is over the limit of "
                f"{self.limits.max_frame_bytes} bytes"
            )
            return
        try:
            event = events.parse_client(frame)
        except events.ProtocolError as exc:
            await self.error(str(exc))
            return
        if isinstance(event, events.Pong):
            self.last_pong = time.monotonic()
        else:
            self.last_activity = time.monotonic()
        await self.handle(event)

    async def handle(self, event: events.ClientEvent) -> None:
        match event:
            case events.InputText(text=text):
                if not text.strip():
                    await self.error("input_text: text is empty")
                    return
                await self.enqueue(Query(text=text.strip(), received_at=time.monotonic()))
            case events.ResponseCancel():
                if self.response is not None:
                    self.response.skip_current()
            case events.ExecutorResult():
                problem = self.executors.resolve(event)
                if problem:
                    await self.error(problem)
            case (
                events.InputAudioBufferAppend()
                | events.InputAudioBufferCommit()
                | events.InputAudioBufferClear()
                | events.PlaybackStarted()
                | events.PlaybackStopped()
            ):
                if self.voice is None:
                    if isinstance(event, events.InputAudioBufferAppend):
                        await self.error(
                            "this server has no speech recognition loaded; send input_text"
                        )
                    return
                await self.voice.handle(event)
            case events.Pong():
                if self._ping_offsets:
                    self._read_by_client = self._ping_offsets.popleft()
            case events.SessionUpdate(session=settings) if settings is not None:
                # Ours: a client that cannot play sound asks for text only, so its
                # answers are neither synthesised nor paced by audio nobody hears.
                if isinstance(speaks := settings.get("output_audio"), bool):
                    self._speech = self._speech_available if speaks else None

    @property
    def _idle(self) -> bool:
        """Nothing is being answered, held back or waiting to be."""
        return self.response is None and self._prepared is None and self._queries.empty()

    def prepare(self, query: Query) -> bool:
        """Start answering a spoken turn the end-of-turn detector calls complete, before the
        pause that confirms it has run out; nothing reaches the client until `enqueue` brings
        the same words (the user resuming abandons it). False: not now (an answer is running).

        The answer's first audio is then ready when the turn ends instead of ~0.2 s later
        (LiveKit calls this preemptive generation).
        """
        if self._closing or not self._idle:
            return False  # (admission is asked once, by `enqueue`, when the turn is real)
        self._prepared = PreparedAnswer.begin(query)
        self._queries.put_nowait(self._prepared)
        return True

    def abandon_prepared(self) -> None:
        """The prepared turn is not the turn: its answer is dropped unseen."""
        prepared, self._prepared = self._prepared, None
        settle(prepared, shown=False)

    def warm_up(self) -> None:
        """The user has begun a spoken turn: the agent likeliest to answer it (the one that
        answered last) reads the conversation so far now, not after the question."""
        warming = self._warming is not None and not self._warming.done()
        if self._closing or not self._idle or warming or not self._last_target:
            return
        plan, goal = plan_for(self.spec, self._last_target)
        first = self.spec.utility_agents.get(plan[0].agent) if plan else None
        if first is None:
            return
        self._warming = asyncio.create_task(warm_agent(self.agent_context, first, goal))

    async def enqueue(self, query: Query) -> None:
        prepared, self._prepared = self._prepared, None
        confirmed = prepared is not None and prepared.query.text == query.text
        problem = None
        if not confirmed and self._queries.qsize() >= self.limits.max_queued_queries:
            problem = (
                f"too many queued queries ({self.limits.max_queued_queries}); "
                "wait for the current answers"
            )
        elif self._turn_gate is not None:
            problem = self._turn_gate()  # back-pressure: this turn is dropped, the session lives
        settle(prepared, shown=confirmed and not problem)
        if problem:
            await self.error(problem)
        elif not confirmed:
            self._queries.put_nowait(query)

    # -- responding ----------------------------------------------------------

    async def _responder(self) -> None:
        while not self._closing:
            item = await self._queries.get()
            if isinstance(item, PreparedAnswer):
                await self._respond(item.query, item.go)
            else:
                await self._respond(item)

    async def _respond(self, query: Query, go: asyncio.Future[bool] | None = None) -> None:
        """Answer ``query``; with ``go``, produce at once but show nothing until it is True."""
        ctx = self.agent_context
        target = self._last_target = await route(
            self.spec, query.text, ctx.providers, ctx.default_provider
        )
        plan, goal = plan_for(self.spec, target)

        async def run_one(
            agent: str, context: tuple[tuple[str, str], ...], output: AgentOutput
        ) -> None:
            spec = self.spec.utility_agents[agent]
            await run_agent(ctx, spec, query.text, context, output, goal)

        response = Response(
            query,
            plan,
            run_one,
            self.send,
            self.outbox.withdraw,
            self._speech,
        )
        if go is not None:
            if not any(self.spec.utility_agents[step.agent].runs_on_client for step in plan):
                response.prepared = True
                response.produce()  # a client's executor is only ever asked for a real turn
            try:
                confirmed = await go
            except asyncio.CancelledError:
                response.abort()
                raise
            if not confirmed:
                response.abort()
                return
        self.response = response
        try:
            await response.run()
        finally:
            self.response = None
        self._remember(query, response)

    def _remember(self, query: Query, response: Response) -> None:
        entries = [HistoryEntry("user", "", query.text, False)]
        for name, result in response.results.items():
            heard = result.heard_text if result.skipped else result.full_text
            if result.skipped or heard:
                entries.append(HistoryEntry("assistant", name, heard, result.skipped))
        self.history.extend(
            HistoryTurn(role=e.role, text=e.text, agent=e.agent, cut=e.cut)  # type: ignore[arg-type]
            for e in entries
        )
        del self.history[: max(0, len(self.history) - self.limits.history_turns)]
        identity = self.identity
        self.history_writer.submit(identity.account, identity.project, identity.uuid, entries)
