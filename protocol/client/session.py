"""One realtime connection to a project: the object ``async with`` yields.

A single reader task owns the WebSocket's receiving side. It answers PING,
runs executor requests, keeps the response/session state that the send
methods depend on (``cancel_response`` must know whether a response is
active even when nobody is reading events), and queues every other event.
Consumers read that queue as typed events (``events()``) or as the wire
dicts of the API document (``get_responses()``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from protocol.client.errors import (
    AuthenticationError,
    ConnectionLostError,
    DistillerError,
    ProjectNotFoundError,
    ServerError,
    ServerUnreachableError,
    UserAlreadyConnectedError,
)
from protocol.client.executors import ExecutorTable
from protocol.client.http import DistillerHttp
from protocol.events import (
    ClientEvent,
    Error,
    ExecutorRequest,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    InputText,
    Ping,
    PlaybackStarted,
    PlaybackStopped,
    Pong,
    ProtocolError,
    ResponseCancel,
    ResponseCreated,
    ResponseDone,
    ResponseInterrupted,
    ServerEvent,
    SessionCreated,
    parse_server,
    serialize,
    to_dict,
)
from protocol.names import check_name

__all__ = ["RealtimeSession", "project_version_text", "realtime_url"]

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 167_772_160  # what the published SDK accepts
DEFAULT_SAMPLE_RATE = 16000
_CLOSED = object()  # queued once the connection is over


def project_version_text(version: object) -> str | None:
    """``None`` or a non-negative integer (given as int or digits) as wire text."""
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise ValueError(
            f"project_version must be an integer or a string of digits, not {version!r}"
        )
    text = str(version).strip()
    if not text.isdigit():
        raise ValueError(f"project_version must be a non-negative integer, not {version!r}")
    return str(int(text))


def realtime_url(base_url: str, account: str, project: str, version: str | None, uuid: str) -> str:
    """``ws(s)://host/distiller/realtime/{account}/{project}[:{version}]/{uuid}``."""
    ws_base = "ws" + base_url[len("http") :]  # http -> ws, https -> wss
    target = project if version is None else f"{project}:{version}"
    return f"{ws_base}/distiller/realtime/{quote(account, safe='')}/{target}/{uuid}"


class RealtimeSession:
    """A realtime Distiller session; use it as ``async with client.realtime_distiller(...)``."""

    def __init__(
        self,
        http: DistillerHttp,
        *,
        project: str,
        uuid: str,
        executor_dict: Mapping[str, Any] | None = None,
        project_version: str | int | None = None,
        audio_backend: Any = None,
        session_timeout: float = 30.0,
        open_timeout: float = 60.0,
    ) -> None:
        self.project = check_name(project, "project")
        self.uuid = check_name(uuid, "uuid")
        self.project_version = project_version_text(project_version)
        self._executors = ExecutorTable(executor_dict)
        self._http = http
        self._audio_backend = audio_backend
        self._session_timeout = session_timeout
        self._open_timeout = open_timeout

        self.account: str | None = None
        self.project_config: dict[str, Any] = {}
        self.session_info: dict[str, Any] = {}
        self.vad_enabled = False
        self._response_active = False

        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._ready: asyncio.Future[SessionCreated] | None = None
        self._executor_tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._terminal_error: DistillerError | None = None

    # ------------------------------------------------------------------ state

    @property
    def connected(self) -> bool:
        """True from ``session.created`` until the connection ends."""
        return (
            self._ready is not None
            and self._ready.done()
            and not self._ready.exception()
            and self._reader is not None
            and not self._reader.done()
            and not self._closing
        )

    @property
    def response_active(self) -> bool:
        """True between ``response.created`` and ``response.done`` (or an interruption)."""
        return self._response_active

    @property
    def sample_rate(self) -> int:
        """The project's ``speech_config.sample_rate`` (16000 when it sets none)."""
        speech = self.project_config.get("speech_config")
        rate = speech.get("sample_rate") if isinstance(speech, dict) else None
        return rate if isinstance(rate, int) and not isinstance(rate, bool) else DEFAULT_SAMPLE_RATE

    @property
    def _wire_project(self) -> str:
        return (
            self.project
            if self.project_version is None
            else f"{self.project}:{self.project_version}"
        )

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
        self._ws = await self._open(url, headers)
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

    async def _open(self, url: str, headers: dict[str, str]) -> ClientConnection:
        try:
            return await connect(
                url,
                additional_headers=headers,
                max_size=MAX_FRAME_BYTES,
                ping_interval=None,  # the server PINGs in JSON; no protocol-level pings
                open_timeout=self._open_timeout,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = exc.response.body.decode("utf-8", "replace").strip() if exc.response.body else ""
            if status in (401, 403):
                raise AuthenticationError(self._http.base_url, body) from None
            if status == 404:
                raise ProjectNotFoundError(self.project, self.project_version, body) from None
            raise ServerError(f"the realtime connection was refused ({status}): {body}") from None
        except InvalidHandshake as exc:
            raise ServerError(f"the realtime handshake failed: {exc}") from None
        except (OSError, TimeoutError) as exc:
            raise ServerUnreachableError(
                self._http.base_url, str(exc) or type(exc).__name__
            ) from None

    async def close(self) -> None:
        """Close the connection and stop custom agents still running. Safe to call twice."""
        self._closing = True
        for task in self._executor_tasks:
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._executor_tasks:
            await asyncio.gather(*self._executor_tasks, return_exceptions=True)

    # ----------------------------------------------------------------- reader

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            while True:
                try:
                    frame = await ws.recv()
                except ConnectionClosed as exc:
                    if not self._closing:
                        self._terminal_error = self._closed_error(exc)
                    return
                try:
                    event = parse_server(frame)
                except ProtocolError as exc:
                    logger.warning("ignoring a server frame that breaks the protocol: %s", exc)
                    continue
                await self._handle(event)
        finally:
            self._queue.put_nowait(_CLOSED)
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(
                    self._terminal_error
                    or ConnectionLostError(None, "closed before the session was created")
                )

    async def _handle(self, event: ServerEvent) -> None:
        if isinstance(event, Ping):
            await self._send_quietly(Pong())
            return
        if isinstance(event, SessionCreated):
            self.session_info = event.session
            self.vad_enabled = event.vad_enabled
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(event)
        elif isinstance(event, ResponseCreated):
            self._response_active = True
        elif isinstance(event, ResponseDone | ResponseInterrupted):
            self._response_active = False
        elif isinstance(event, Error):
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(ServerError(event.message))
        elif isinstance(event, ExecutorRequest):
            task = asyncio.create_task(self._answer_executor(event))
            self._executor_tasks.add(task)
            task.add_done_callback(self._executor_tasks.discard)
        self._queue.put_nowait(event)

    async def _answer_executor(self, request: ExecutorRequest) -> None:
        result = await self._executors.run(
            request, account=self.account or "", project=self._wire_project, uuid=self.uuid
        )
        await self._send_quietly(result)

    def _closed_error(self, exc: ConnectionClosed) -> ConnectionLostError:
        close = exc.rcvd or exc.sent
        code = close.code if close is not None else None
        reason = close.reason if close is not None else ""
        if code == 1011 and "already connected" in reason.lower():
            return UserAlreadyConnectedError(self.project, self.uuid, reason)
        return ConnectionLostError(code, reason)

    # ------------------------------------------------------------------ sends

    async def send_event(self, event: ClientEvent) -> None:
        """Send any client event; the typed methods below are the usual way."""
        if self._terminal_error is not None:
            raise self._terminal_error
        if self._ws is None or self._closing:
            raise RuntimeError(
                "the session is not connected; use it inside "
                "'async with client.realtime_distiller(project=..., uuid=...) as session'"
            )
        try:
            await self._ws.send(serialize(event))
        except ConnectionClosed as exc:
            raise self._terminal_error or self._closed_error(exc) from None

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
        if self._response_active and not self.vad_enabled:
            return
        await self.send_event(InputAudioBufferAppend(audio=audio))

    async def commit_audio(self) -> None:
        """Ask the server to process the audio buffered so far."""
        await self.send_event(InputAudioBufferCommit())

    async def clear_audio_buffer(self) -> None:
        """Drop the audio buffered on the server for the current turn."""
        await self.send_event(InputAudioBufferClear())

    async def send_text_query(self, text: str) -> None:
        """Send a typed query."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, not {type(text).__name__}")
        if not text.strip():
            raise ValueError("text query is empty")
        await self.send_event(InputText(text=text))

    async def cancel_response(self) -> None:
        """Skip the current agent's speech; sends nothing when no response is active."""
        if not self._response_active:
            return
        await self.send_event(ResponseCancel())

    async def notify_playback_started(self) -> None:
        """Tell the server the speaker started playing the answer (barge-in timing)."""
        await self.send_event(PlaybackStarted())

    async def notify_playback_stopped(self) -> None:
        """Tell the server the speaker went quiet (barge-in timing)."""
        await self.send_event(PlaybackStopped())

    # --------------------------------------------------------------- receives

    async def events(self) -> AsyncIterator[ServerEvent]:
        """Every server event as a typed object, until the connection closes.

        PING is answered here and not yielded. Executor requests are yielded
        for display only: the session has already started running them.
        Ends quietly after ``close()``; raises the typed error
        (`ConnectionLostError`, `UserAlreadyConnectedError`) when the server
        ends the connection.
        """
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                self._queue.put_nowait(_CLOSED)  # every later reader ends too
                if self._terminal_error is not None:
                    raise self._terminal_error
                return
            yield item

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
        kept = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _CLOSED or isinstance(item, Error):
                kept.append(item)
        for item in kept:
            self._queue.put_nowait(item)

    # ------------------------------------------------------------------ voice

    async def listen_and_respond(
        self, sample_rate: int = DEFAULT_SAMPLE_RATE, cancel_event: asyncio.Event | None = None
    ) -> None:
        """Stream the microphone until the server answers, then play the answer."""
        from protocol.client.voice import listen_and_respond

        await listen_and_respond(self, sample_rate, cancel_event, backend=self._audio_backend)

    async def send_text_and_respond(
        self,
        text: str,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        cancel_event: asyncio.Event | None = None,
    ) -> None:
        """Send a typed query and play the spoken answer."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text query is empty")
        from protocol.client.voice import send_text_and_respond

        await send_text_and_respond(
            self, text, sample_rate, cancel_event, backend=self._audio_backend
        )
