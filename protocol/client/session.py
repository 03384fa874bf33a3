"""One realtime connection to a project: the object ``async with`` yields.

A single reader task owns the WebSocket's receiving side. It feeds every
server event to the session's `Conversation` (protocol/conversation.py, the one
place that decides what a response is), sends the frames it answers with
(PONG), runs executor requests, and queues each event with the conversation's
actions as an `Update`. Consumers read that queue as updates (``updates()``:
what to play, drop and show), typed events (``events()``) or the wire dicts of
the API document (``get_responses()``). The send methods ask the same
conversation first, so ``cancel_response`` knows whether an agent is speaking
even when nobody is reading events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from protocol.client.addressing import project_version_text, realtime_url
from protocol.client.errors import (
    ConnectionLostError,
    DistillerError,
    ServerError,
    ServerUnreachableError,
)
from protocol.client.executors import ExecutorTable
from protocol.client.handshake import closed_error, open_connection
from protocol.client.http import DistillerHttp
from protocol.client.updates import Update, UpdateStream
from protocol.conversation import Action, Conversation, Send
from protocol.events import (
    ClientEvent,
    Error,
    ExecutorRequest,
    Ping,
    ProtocolError,
    ResponseDone,
    ServerEvent,
    SessionCreated,
    parse_server,
    serialize,
    to_dict,
)
from protocol.names import check_name

__all__ = ["RealtimeSession", "Update", "project_version_text", "realtime_url"]

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 16000


class RealtimeSession:
    """A realtime Distiller session; use it as ``async with client.realtime_distiller(...)``.

    The voice methods (``listen_and_respond`` …) are added by
    `protocol.client.voice.VoiceSession`, which is what the client hands out.
    """

    def __init__(
        self,
        http: DistillerHttp,
        *,
        project: str,
        uuid: str,
        executor_dict: Mapping[str, Any] | None = None,
        project_version: str | int | None = None,
        session_timeout: float = 30.0,
        open_timeout: float = 60.0,
        conversation: Conversation | None = None,
        reconnect_within: float = 0.0,
    ) -> None:
        self.project = check_name(project, "project")
        self.uuid = check_name(uuid, "uuid")
        self.project_version = project_version_text(project_version)
        self._executors = ExecutorTable(executor_dict)
        self._http = http
        self._session_timeout = session_timeout
        self._open_timeout = open_timeout

        self.account: str | None = None
        self.project_config: dict[str, Any] = {}
        self.session_info: dict[str, Any] = {}
        self.conversation = conversation if conversation is not None else Conversation()
        """Shared with whoever continues this conversation on a later connection."""

        self._reconnect_within = reconnect_within
        """Ours: seconds to keep reconnecting after a drop (0: end, as the published SDK does)."""
        self._dial: tuple[Any, ...] = ()
        self._dropped_at: float | None = None
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._updates = UpdateStream(lambda: self._terminal_error)
        self._ready: asyncio.Future[SessionCreated] | None = None
        self._closing = False
        self._terminal_error: DistillerError | None = None

    # ------------------------------------------------------------------ state

    @property
    def connected(self) -> bool:
        """True from ``session.created`` until the connection ends (or while it is re-made)."""
        reading = self._reader is not None and not self._reader.done()
        return self.conversation.connected and reading and not self._closing

    @property
    def response_active(self) -> bool:
        """True between ``response.created`` and ``response.done`` (or an interruption)."""
        return self.conversation.response_active

    @property
    def vad_enabled(self) -> bool:
        """The server announced barge-in (``capabilities.vad_enabled``)."""
        return self.conversation.barge_in

    @property
    def sample_rate(self) -> int:
        """The project's ``speech_config.sample_rate`` (16000 when it sets none)."""
        speech = self.project_config.get("speech_config")
        rate = speech.get("sample_rate") if isinstance(speech, dict) else None
        return rate if isinstance(rate, int) and not isinstance(rate, bool) else DEFAULT_SAMPLE_RATE

    # -------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> RealtimeSession:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Authenticate, fetch the project, open the WebSocket, wait for ``session.created``."""
        if self._ws is not None:
            raise RuntimeError("this session object has already been connected; make a new one")
        # The HTTP calls block, so they run in a thread: the loop stays free.
        self.account = await asyncio.to_thread(self._http.account)
        self.project_config = await asyncio.to_thread(
            self._http.download_project, self.project, self.project_version
        )
        headers = await asyncio.to_thread(self._http.headers, with_account=True)
        url = realtime_url(
            self._http.base_url, self.account, self.project, self.project_version, self.uuid
        )
        self._ready = asyncio.get_running_loop().create_future()
        http, timeout = self._http, self._open_timeout
        self._dial = (url, headers, timeout, http.base_url, self.project, self.project_version)
        self._ws = await open_connection(*self._dial)
        self._reader = asyncio.create_task(
            self._read_loop(self._ws), name=f"distiller-reader-{self.uuid}"
        )
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), self._session_timeout)
        except TimeoutError:
            await self.close()
            raise TimeoutError(
                f"the server did not send session.created within {self._session_timeout:g} s"
            ) from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the connection and stop custom agents still running. Safe to call twice."""
        self._closing, self.conversation.connected = True, False
        await self._executors.stop()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    # ----------------------------------------------------------------- reader

    async def _read_loop(self, ws: ClientConnection) -> None:
        """Read until the session ends: one connection, or with failover as many as needed."""
        try:
            while True:
                closed = await self._read_connection(ws)
                if self._closing:
                    return
                self._updates.put(Update(None, tuple(self.conversation.connection_lost())))
                self._terminal_error = closed_error(closed, self.project, self.uuid)
                if not self._may_reconnect(closed) or (ws := await self._redial()) is None:
                    return
                self._ws, self._terminal_error = ws, None
        finally:
            self._updates.close()
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(
                    self._terminal_error
                    or ConnectionLostError(None, "closed before the session was created")
                )

    async def _read_connection(self, ws: ClientConnection) -> ConnectionClosed:
        """Handle one connection's frames; returns how it closed."""
        while True:
            try:
                frame = await ws.recv()
            except ConnectionClosed as exc:
                return exc
            try:
                event = parse_server(frame)
            except ProtocolError as exc:
                logger.warning("ignoring a server frame that breaks the protocol: %s", exc)
                continue
            await self._handle(event)

    def _may_reconnect(self, closed: ConnectionClosed) -> bool:
        """Failover is on, the session had started, and the close was no verdict on us:
        1000 (on purpose) and 1008 (idle, not reading) end it; 1006 (a replica died),
        1001/1012 (draining), 1011 (the dead replica's presence lingers) are retried.
        """
        close = closed.rcvd or closed.sent
        code = close.code if close is not None else 1006
        started = self._ready is not None and self._ready.done() and not self._ready.exception()
        return self._reconnect_within > 0 and started and code not in (1000, 1008)

    async def _redial(self) -> ClientConnection | None:
        """The same URL again (behind a load balancer: another replica), with backoff."""
        loop = asyncio.get_running_loop()
        self._dropped_at = self._dropped_at or loop.time()
        deadline = self._dropped_at + self._reconnect_within
        for wait in (0.1, 0.25, 0.5, *([1.0] * 1000)):
            await asyncio.sleep(wait)
            if self._closing or loop.time() > deadline:
                return None
            try:
                return await open_connection(*self._dial)
            except (ServerUnreachableError, ServerError) as exc:  # down, or draining (503)
                logger.info("reconnecting to %s: %s", self._http.base_url, exc)
        return None

    async def _handle(self, event: ServerEvent) -> None:
        actions = await self._perform(self.conversation.receive(event), quietly=True)
        if isinstance(event, SessionCreated):
            self.session_info, self._dropped_at = event.session, None
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(event)
        elif isinstance(event, Error):
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(ServerError(event.message))
        elif isinstance(event, ExecutorRequest):
            version = self.project_version
            project = self.project if version is None else f"{self.project}:{version}"
            identity = {"account": self.account or "", "project": project, "uuid": self.uuid}
            self._executors.start(event, self._send_quietly, **identity)
        if not isinstance(event, Ping):  # answered above; nothing to show
            self._updates.put(Update(event, tuple(actions)))

    async def _perform(self, actions: list[Action], *, quietly: bool = False) -> list[Action]:
        """Send the conversation's frames; return the actions left for the caller."""
        rest = []
        for action in actions:
            if isinstance(action, Send):
                if quietly:
                    await self._send_quietly(action.event)
                else:
                    await self.send_event(action.event)
            else:
                rest.append(action)
        return rest

    # ------------------------------------------------------------------ sends

    def _check_open(self) -> None:
        if self._terminal_error is not None:
            raise self._terminal_error
        if self._ws is None or self._closing:
            raise RuntimeError(
                "the session is not connected; use it inside "
                "'async with client.realtime_distiller(project=..., uuid=...) as session'"
            )

    async def send_event(self, event: ClientEvent) -> None:
        """Send any client event; the typed methods below are the usual way."""
        self._check_open()
        assert self._ws is not None
        try:
            await self._ws.send(serialize(event))
        except ConnectionClosed as exc:
            raise self._terminal_error or closed_error(exc, self.project, self.uuid) from None

    async def _send_quietly(self, event: ClientEvent) -> None:
        """Send from background work, where a closed connection is the reader's news to tell."""
        try:
            await self.send_event(event)
        except (DistillerError, RuntimeError) as exc:
            logger.debug("could not send %s: %s", event.type, exc)

    async def send_audio_chunk(self, audio_bytes: bytes) -> None:
        """Append microphone audio (PCM16 LE mono at the project's rate).

        Like the published SDK, audio sent while a response is active is
        dropped unless the server announced barge-in, so the assistant does
        not hear itself through the microphone.
        """
        if not isinstance(audio_bytes, bytes | bytearray | memoryview):
            raise TypeError(f"audio_bytes must be bytes, not {type(audio_bytes).__name__}")
        audio = bytes(audio_bytes)
        if not audio:
            raise ValueError("audio_bytes is empty; send at least one PCM16 sample")
        if len(audio) % 2:
            raise ValueError(f"audio_bytes is not PCM16: {len(audio)} bytes is an odd byte count")
        await self._perform(self.conversation.mic_audio(audio))

    async def commit_audio(self) -> None:
        """Ask the server to process the audio buffered so far."""
        await self._perform(self.conversation.commit())

    async def clear_audio_buffer(self) -> None:
        """Drop the audio buffered on the server for the current turn."""
        await self._perform(self.conversation.clear_audio())

    async def ask(self, text: str) -> list[Action]:
        """Send a typed query; returns what else it changes (the new turn)."""
        self._check_open()
        return await self._perform(self.conversation.ask(text))

    async def send_text_query(self, text: str) -> None:
        """Send a typed query."""
        await self.ask(text)

    async def skip(self) -> list[Action]:
        """Skip the current agent; returns what else to do (silence the speaker)."""
        return await self._perform(self.conversation.skip())

    async def cancel_response(self) -> None:
        """Skip the current agent's speech; sends nothing when no agent is speaking."""
        await self.skip()

    async def notify_playback_started(self) -> None:
        """Tell the server the speaker started playing the answer (barge-in timing)."""
        await self._perform(self.conversation.playback_started())

    async def notify_playback_stopped(self) -> None:
        """Tell the server the speaker went quiet (barge-in timing)."""
        await self._perform(self.conversation.playback_stopped())

    # --------------------------------------------------------------- receives

    def updates(self) -> AsyncIterator[Update]:
        """Every server event with the conversation's actions, until the connection closes.

        The update of a dropped connection has no event: its actions cut off
        the answer in progress. Ends quietly after ``close()``; raises the
        typed error (`ConnectionLostError`, `UserAlreadyConnectedError`) when
        the server ends the connection.
        """
        return aiter(self._updates)

    async def events(self) -> AsyncIterator[ServerEvent]:
        """Every server event as a typed object, until the connection closes.

        PING is answered here and not yielded. Executor requests are yielded
        for display only: the session has already started running them.
        """
        async for update in self.updates():
            if update.event is not None:
                yield update.event

    async def responses(self) -> AsyncIterator[ServerEvent]:
        """Typed events of one exchange, ending after ``response.done``.

        Executor requests are run and answered, never yielded. An ``error``
        frame raises `ServerError`: the published SDK treats it as fatal.
        """
        async for event in self.events():
            if isinstance(event, ExecutorRequest):
                continue
            if isinstance(event, Error):
                raise ServerError(event.message)
            yield event
            if isinstance(event, ResponseDone):
                return

    async def get_responses(self) -> AsyncIterator[dict[str, Any]]:
        """`responses()` as the wire dicts the API document shows (audio in base64)."""
        async for event in self.responses():
            yield to_dict(event)

    def discard_pending_events(self) -> None:
        """Drop queued events left from an earlier exchange (errors and the end stay)."""
        self._updates.discard_pending()
