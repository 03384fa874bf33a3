"""The realtime WebSocket endpoint: authenticate, find the project, run a session."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from protocol import events
from protocol.names import name_problem
from server.auth import account_for
from server.presence import RECONNECT_GRACE_S, Holder, PresenceUnavailable
from server.project import ConfigInvalid, validate_config
from server.session import RealtimeSession, SessionIdentity, SessionLimits
from server.store import StoreError

log = logging.getLogger(__name__)
router = APIRouter()

ALREADY_CONNECTED = "User is already connected"
CLOSE_FRAME_WAIT_S = 10.0
TRY_AGAIN_LATER = 1013  # RFC 6455: the server is overloaded (or its store is away)


def _split_project(ref: str) -> tuple[str, int | None, str | None]:
    """``name`` or ``name:version`` -> (name, version, problem)."""
    name, sep, version = ref.partition(":")
    problem = name_problem(name, "project")
    if problem:
        return name, None, problem
    if not sep:
        return name, None, None
    if not version.isdigit():
        return name, None, f"project version {version!r} is not a whole number"
    return name, int(version), None


async def _refuse(websocket: WebSocket, message: str, code: int = 1008) -> None:
    """Accept only to say why, then close: the client learns the reason."""
    await websocket.accept()
    await websocket.send_text(events.serialize(events.Error(message=message)))
    await websocket.close(code=code, reason=message[:120])


@router.websocket("/distiller/realtime/{account}/{project_ref}/{uuid}")
async def realtime(websocket: WebSocket, account: str, project_ref: str, uuid: str) -> None:
    state = websocket.app.state
    if state.drain.draining:
        # An HTTP 503 at the handshake: the load balancer retries another replica.
        await websocket.send_denial_response(
            PlainTextResponse("this replica is draining", status_code=503)
        )
        return
    granted = account_for(state.settings, websocket.headers.get("authorization"))
    if granted is None or granted != account:
        # Refused at the handshake: no session, nothing learned about projects.
        await websocket.close(code=1008)
        return
    name, version, problem = _split_project(project_ref)
    problem = problem or name_problem(uuid, "uuid")
    if problem:
        await _refuse(websocket, problem)
        return
    try:
        stored = await state.store.get_version(account, name, version)
    except StoreError as exc:
        await _refuse(websocket, str(exc), code=TRY_AGAIN_LATER)
        return
    if stored is None:
        what = f"project '{name}'" + (f" version {version}" if version is not None else "")
        await _refuse(websocket, f"{what} not found")
        return
    try:
        spec = validate_config(stored.config)
    except ConfigInvalid as exc:
        await _refuse(websocket, f"project '{name}' cannot run: {exc}")
        return

    key = (account, name, uuid)
    try:
        claimed = await state.presence.claim(key)
    except PresenceUnavailable as exc:
        await _refuse(websocket, f"cannot check who is connected: {exc}", code=TRY_AGAIN_LATER)
        return
    if not claimed:
        await websocket.accept()
        await websocket.close(code=1011, reason=ALREADY_CONNECTED)
        return
    admission = state.admission if spec.speech.speaks else None
    refusal = admission.enter_session() if admission is not None else None
    if refusal:
        await state.presence.release(key)
        await _refuse(websocket, refusal, code=TRY_AGAIN_LATER)
        return
    closing: asyncio.Task[None] | None = None
    try:
        await websocket.accept()
        identity = SessionIdentity(account, name, stored.version, uuid)
        closing = await _run_session(websocket, identity, spec)
    finally:
        if admission is not None:
            admission.leave_session()
        # The user may come back on another replica at once: their last turn is stored
        # before they are let go (bounded; the other replica waits this long anyway).
        await state.history_writer.flush(RECONNECT_GRACE_S)
        await state.presence.release(key)
    if closing is not None:
        # The session is over and its memory freed; give the close frame (and its
        # reason) a bounded chance to reach a client that is slow to read.
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(closing, CLOSE_FRAME_WAIT_S)


async def _next_message(websocket: WebSocket, ended: asyncio.Event) -> dict | None:  # type: ignore[type-arg]
    """The next client message, or None once the server has ended the session."""
    receive = asyncio.ensure_future(websocket.receive())
    stop = asyncio.ensure_future(ended.wait())
    try:
        await asyncio.wait({receive, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if receive.done():
        return receive.result()
    receive.cancel()
    return None


async def _run_session(  # type: ignore[no-untyped-def]
    websocket: WebSocket, identity: SessionIdentity, spec
) -> asyncio.Task[None] | None:
    """Serve one session until either side ends it; returns a close still being sent."""
    state = websocket.app.state
    settings = state.settings

    async def close(code: int, reason: str) -> None:
        if websocket.client_state == WebSocketState.CONNECTED:
            await websocket.close(code=code, reason=reason)

    speech, voice, problems = (
        await state.speech.for_session(spec, identity) if state.speech else (None, None, [])
    )
    session = RealtimeSession(
        identity=identity,
        spec=spec,
        store=state.store,
        history_writer=state.history_writer,
        providers=state.providers,
        default_provider=settings.default_provider,
        limits=SessionLimits(
            ping_interval_s=settings.ping_interval_s,
            executor_timeout_s=settings.executor_timeout_s,
            idle_timeout_s=settings.idle_timeout_s,
            pong_timeout_s=settings.pong_timeout_s,
        ),
        send_text=websocket.send_text,
        close=close,
        speech=speech,
        voice_input=voice,
        turn_gate=state.admission.turn_problem if speech is not None and state.admission else None,
    )
    if voice is not None:
        voice.attach(session)
    state.presence.attach(
        (identity.account, identity.project, identity.uuid),
        Holder(
            tell=session.error,
            end=lambda: session.close(1011, ALREADY_CONNECTED),
            busy=lambda: session.response is not None,
        ),
    )
    try:
        await session.start()
        for problem in problems:
            await session.error(problem)
        while True:
            message = await _next_message(websocket, session.ended)
            if message is None or message["type"] == "websocket.disconnect":
                break
            frame = message.get("text")
            if frame is None:
                frame = message.get("bytes") or b""
            await session.receive(frame)
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("session %s failed", identity)
        with contextlib.suppress(Exception):
            await close(1011, "internal server error")
    finally:
        await session.shutdown()
    return session.close_task
