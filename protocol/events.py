"""Realtime Distiller wire events, sans-I/O.

Every WebSocket frame of the Realtime Distiller protocol is one JSON text
message. This module turns such a text into a typed event (`parse`) and back
(`serialize`), and nothing else: no sockets, no asyncio. The server, the client
SDK and the app all build on it, so one definition of the wire format serves
both ends.

Frame layouts follow ``shared/wire-protocol.md``. Serialized server frames keep
to the field types the published AI Refinery SDK validates (``role``,
``content``, ``status`` str; ``audio``, ``delta``, ``text``, ``type``,
``request_id`` str; ``metadata``, ``kwargs`` objects).

It is longer than our 400-line rule on purpose: each frame's type, its parser
and its serializer sit in one file so a change to the wire format is made (and
reviewed) in one place; splitting them by direction would put both ends of one
frame in different files.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeAlias

__all__ = [
    "CLIENT_EVENT_TYPES",
    "SERVER_EVENT_TYPES",
    "ClientEvent",
    "Error",
    "Event",
    "ExecutorRequest",
    "ExecutorResult",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCommit",
    "InputText",
    "Ping",
    "PlaybackStarted",
    "PlaybackStopped",
    "Pong",
    "ProtocolError",
    "ResponseAudioDelta",
    "ResponseAudioDone",
    "ResponseCancel",
    "ResponseCreated",
    "ResponseDone",
    "ResponseInterrupted",
    "ResponseTextDelta",
    "ResponseTextDone",
    "ServerEvent",
    "SessionCreated",
    "SessionUpdate",
    "TranscriptDelta",
    "TranscriptDone",
    "parse",
    "parse_client",
    "parse_server",
    "serialize",
    "to_dict",
]


class ProtocolError(ValueError):
    """A frame that does not follow the wire protocol; the message names why."""


Direction = Literal["client", "server", "both"]


# --------------------------------------------------------------------------
# Client -> server
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InputAudioBufferAppend:
    """Microphone audio: raw PCM16 little-endian mono at the project's rate."""

    type: ClassVar[str] = "input_audio_buffer.append"
    audio: bytes


@dataclass(frozen=True, slots=True)
class InputAudioBufferCommit:
    """Process what is buffered now (partial transcript or end of turn)."""

    type: ClassVar[str] = "input_audio_buffer.commit"


@dataclass(frozen=True, slots=True)
class InputAudioBufferClear:
    """Drop the audio buffered for the current turn."""

    type: ClassVar[str] = "input_audio_buffer.clear"


@dataclass(frozen=True, slots=True)
class InputText:
    """A typed query."""

    type: ClassVar[str] = "input_text"
    text: str


@dataclass(frozen=True, slots=True)
class ResponseCancel:
    """Skip the current agent's speech (see the API document's cancel rules)."""

    type: ClassVar[str] = "response.cancel"


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    """Sent by the published SDK, bare, before external recording starts.

    Ours may carry ``session`` settings, e.g. ``{"output_audio": false}`` from a
    client that cannot play sound, so the engine neither speaks nor paces for it.
    """

    type: ClassVar[str] = "session.update"
    session: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PlaybackStarted:
    """The client's speaker started playing the answer (barge-in timing)."""

    type: ClassVar[str] = "playback.started"


@dataclass(frozen=True, slots=True)
class PlaybackStopped:
    """The client's speaker went quiet (barge-in timing)."""

    type: ClassVar[str] = "playback.stopped"


@dataclass(frozen=True, slots=True)
class Pong:
    """Keep-alive answer to `Ping`."""

    type: ClassVar[str] = "PONG"


@dataclass(frozen=True, slots=True)
class ExecutorResult:
    """The result of a client-side custom agent, answering an `ExecutorRequest`.

    It has no ``type`` on the wire; ``request_type: "executor"`` marks it.
    """

    type: ClassVar[str] = "executor.result"  # internal name only, never sent
    request_id: str
    role: str
    content: str
    account: str = ""
    project: str = ""
    uuid: str = ""
    memory_updates: dict[str, Any] | None = None


# --------------------------------------------------------------------------
# Server -> client
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionCreated:
    """The session is ready; ``vad_enabled`` true means barge-in mode."""

    type: ClassVar[str] = "session.created"
    session: dict[str, Any] = field(default_factory=dict)
    vad_enabled: bool = False


@dataclass(frozen=True, slots=True)
class TranscriptDelta:
    """The growing transcript of the user's current utterance."""

    type: ClassVar[str] = "response.audio_transcript.delta"
    delta: str


@dataclass(frozen=True, slots=True)
class TranscriptDone:
    """The final transcript of the user's utterance."""

    type: ClassVar[str] = "response.audio_transcript.done"
    text: str


@dataclass(frozen=True, slots=True)
class ResponseCreated:
    type: ClassVar[str] = "response.created"


@dataclass(frozen=True, slots=True)
class ResponseTextDelta:
    """Streamed answer text; a new ``role`` marks an agent boundary."""

    type: ClassVar[str] = "response.text.delta"
    content: str
    role: str


@dataclass(frozen=True, slots=True)
class ResponseAudioDelta:
    """Streamed speech: PCM16 little-endian mono at the session's rate."""

    type: ClassVar[str] = "response.audio.delta"
    audio: bytes


@dataclass(frozen=True, slots=True)
class ResponseAudioDone:
    type: ClassVar[str] = "response.audio.done"


@dataclass(frozen=True, slots=True)
class ResponseTextDone:
    type: ClassVar[str] = "response.text.done"


@dataclass(frozen=True, slots=True)
class ResponseDone:
    """The response is over; ``metadata`` may carry ``timings`` (ours)."""

    type: ClassVar[str] = "response.done"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseInterrupted:
    """Barge-in: the user spoke over the answer."""

    type: ClassVar[str] = "response.interrupted"


@dataclass(frozen=True, slots=True)
class Error:
    """A problem the client should hear about; the message names it."""

    type: ClassVar[str] = "error"
    message: str


@dataclass(frozen=True, slots=True)
class Ping:
    type: ClassVar[str] = "PING"


@dataclass(frozen=True, slots=True)
class ExecutorRequest:
    """Asks the client to run its ``executor_dict[role]`` with ``kwargs``.

    It has no ``type`` on the wire; ``status: "wait"`` marks it.
    """

    type: ClassVar[str] = "executor.request"  # internal name only, never sent
    role: str
    request_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)


ClientEvent: TypeAlias = (
    InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | InputText
    | ResponseCancel
    | SessionUpdate
    | PlaybackStarted
    | PlaybackStopped
    | Pong
    | ExecutorResult
)
ServerEvent: TypeAlias = (
    SessionCreated
    | TranscriptDelta
    | TranscriptDone
    | ResponseCreated
    | ResponseTextDelta
    | ResponseAudioDelta
    | ResponseAudioDone
    | ResponseTextDone
    | ResponseDone
    | ResponseInterrupted
    | Error
    | Ping
    | ExecutorRequest
)
Event: TypeAlias = ClientEvent | ServerEvent

_CLIENT_CLASSES: tuple[type, ...] = (
    InputAudioBufferAppend,
    InputAudioBufferCommit,
    InputAudioBufferClear,
    InputText,
    ResponseCancel,
    SessionUpdate,
    PlaybackStarted,
    PlaybackStopped,
    Pong,
)
_SERVER_CLASSES: tuple[type, ...] = (
    SessionCreated,
    TranscriptDelta,
    TranscriptDone,
    ResponseCreated,
    ResponseTextDelta,
    ResponseAudioDelta,
    ResponseAudioDone,
    ResponseTextDone,
    ResponseDone,
    ResponseInterrupted,
    Error,
    Ping,
)
CLIENT_EVENT_TYPES: frozenset[str] = frozenset(c.type for c in _CLIENT_CLASSES)
SERVER_EVENT_TYPES: frozenset[str] = frozenset(c.type for c in _SERVER_CLASSES)
_BY_TYPE: dict[str, type] = {c.type: c for c in _CLIENT_CLASSES + _SERVER_CLASSES}


# --------------------------------------------------------------------------
# parse
# --------------------------------------------------------------------------


def _string(obj: dict[str, Any], key: str, event: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise ProtocolError(f"{event}: missing field '{key}'")
        return ""
    if not isinstance(value, str):
        raise ProtocolError(f"{event}: field '{key}' must be a string, not {type(value).__name__}")
    return value


def _object(obj: dict[str, Any], key: str, event: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError(f"{event}: field '{key}' must be an object, not {type(value).__name__}")
    return value


def _pcm16(obj: dict[str, Any], event: str) -> bytes:
    encoded = _string(obj, "audio", event)
    try:
        audio = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"{event}: field 'audio' is not valid base64 ({exc})") from None
    if len(audio) % 2:
        raise ProtocolError(
            f"{event}: field 'audio' is not PCM16: {len(audio)} bytes is an odd byte count"
        )
    return audio


def _build(event_type: str, obj: dict[str, Any]) -> Event:
    cls = _BY_TYPE[event_type]
    if cls is InputAudioBufferAppend:
        return InputAudioBufferAppend(audio=_pcm16(obj, event_type))
    if cls is ResponseAudioDelta:
        return ResponseAudioDelta(audio=_pcm16(obj, event_type))
    if cls is InputText:
        return InputText(text=_string(obj, "text", event_type))
    if cls is TranscriptDelta:
        return TranscriptDelta(delta=_string(obj, "delta", event_type))
    if cls is TranscriptDone:
        return TranscriptDone(text=_string(obj, "text", event_type))
    if cls is ResponseTextDelta:
        return ResponseTextDelta(
            content=_string(obj, "content", event_type),
            role=_string(obj, "role", event_type, required=False),
        )
    if cls is SessionCreated:
        capabilities = _object(obj, "capabilities", event_type)
        vad_enabled = capabilities.get("vad_enabled", False)
        if not isinstance(vad_enabled, bool):
            raise ProtocolError(f"{event_type}: capabilities.vad_enabled must be a boolean")
        return SessionCreated(session=_object(obj, "session", event_type), vad_enabled=vad_enabled)
    if cls is ResponseDone:
        return ResponseDone(metadata=_object(obj, "metadata", event_type))
    if cls is SessionUpdate:
        settings = _object(obj, "session", event_type) if "session" in obj else None
        return SessionUpdate(session=settings)
    if cls is Error:
        detail = _object(obj, "error_detail", event_type)
        message = detail.get("message") if detail else None
        if not isinstance(message, str) or not message:
            raw = obj.get("error")
            message = raw if isinstance(raw, str) else json.dumps(raw)
        return Error(message=message)
    return cls()


def _executor_result(obj: dict[str, Any]) -> ExecutorResult:
    name = "executor result"
    args = _object(obj, "request_args", name)
    content = args.get("content")
    if content is None:
        content = ""
    elif not isinstance(content, str):
        content = json.dumps(content)
    memory_updates = args.get("memory_updates")
    if memory_updates is not None and not isinstance(memory_updates, dict):
        raise ProtocolError(f"{name}: request_args.memory_updates must be an object or null")
    request_id = obj.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise ProtocolError(f"{name}: missing field 'request_id'")
    return ExecutorResult(
        request_id=request_id,
        role=_string(obj, "role", name, required=False),
        content=content,
        account=_string(obj, "account", name, required=False),
        project=_string(obj, "project", name, required=False),
        uuid=_string(obj, "uuid", name, required=False),
        memory_updates=memory_updates,
    )


def _executor_request(obj: dict[str, Any]) -> ExecutorRequest:
    name = "executor request"
    return ExecutorRequest(
        role=_string(obj, "role", name),
        request_id=_string(obj, "request_id", name),
        kwargs=_object(obj, "kwargs", name),
    )


def parse(frame: str | bytes, *, expect: Direction = "both") -> Event:
    """Parse one text frame into an event.

    ``expect`` restricts which side may have sent it: the server parses with
    ``"client"``, clients with ``"server"``. Raises `ProtocolError` naming the
    problem: not JSON, not an object, unknown or unexpected type, a missing or
    ill-typed field, bad base64, audio that is not PCM16.
    """
    if isinstance(frame, bytes):
        try:
            frame = frame.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("frame is not UTF-8 text") from None
    try:
        obj = json.loads(frame)
    except RecursionError:
        raise ProtocolError(_TOO_DEEP) from None
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"frame is not valid JSON ({exc})") from None
    if _nesting_depth(obj) > MAX_NESTING:
        raise ProtocolError(_TOO_DEEP)
    if not isinstance(obj, dict):
        raise ProtocolError(f"frame must be a JSON object, not {type(obj).__name__}")
    if _ESCAPED_SURROGATE.search(frame):
        _refuse_lone_surrogates(obj)
    return _event_of(obj, expect)


MAX_NESTING = 64  # real frames nest 3 or 4 levels; deeper is hostile or broken
_TOO_DEEP = f"frame is nested too deeply (the limit is {MAX_NESTING} levels)"


def _nesting_depth(obj: Any) -> int:
    """How deeply lists and objects nest, without recursion (stops counting past the limit)."""
    deepest = 0
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            return deepest
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


# JSON may escape UTF-16 surrogates; a lone one is not text and could not be sent back as UTF-8.
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _refuse_lone_surrogates(obj: Any) -> None:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolError("frame contains invalid Unicode (a lone UTF-16 surrogate)") from None


def _event_of(obj: dict[str, Any], expect: Direction) -> Event:
    event_type = obj.get("type")
    if event_type is None:
        if obj.get("request_type") == "executor" and expect != "server":
            return _executor_result(obj)
        if obj.get("status") == "wait" and expect != "client":
            return _executor_request(obj)
        raise ProtocolError("frame has no 'type' field")
    if not isinstance(event_type, str):
        raise ProtocolError(f"field 'type' must be a string, not {type(event_type).__name__}")
    if event_type not in _BY_TYPE:
        raise ProtocolError(f"unknown event type '{event_type}'")
    if expect == "client" and event_type not in CLIENT_EVENT_TYPES:
        raise ProtocolError(f"event type '{event_type}' is sent by servers, not clients")
    if expect == "server" and event_type not in SERVER_EVENT_TYPES:
        raise ProtocolError(f"event type '{event_type}' is sent by clients, not servers")
    return _build(event_type, obj)


def parse_client(frame: str | bytes) -> ClientEvent:
    """Parse a frame a client sent (what the server reads)."""
    return parse(frame, expect="client")  # type: ignore[return-value]


def parse_server(frame: str | bytes) -> ServerEvent:
    """Parse a frame a server sent (what a client reads)."""
    return parse(frame, expect="server")  # type: ignore[return-value]


# --------------------------------------------------------------------------
# serialize
# --------------------------------------------------------------------------


def _b64(audio: bytes) -> str:
    return base64.b64encode(audio).decode("ascii")


def to_dict(event: Event) -> dict[str, Any]:
    """The JSON object of an event, exactly as it goes on the wire."""
    if isinstance(event, ExecutorResult):
        return {
            "account": event.account,
            "project": event.project,
            "uuid": event.uuid,
            "role": event.role,
            "request_type": "executor",
            "request_id": event.request_id,
            "request_args": {"content": event.content, "memory_updates": event.memory_updates},
        }
    if isinstance(event, ExecutorRequest):
        return {
            "status": "wait",
            "role": event.role,
            "kwargs": event.kwargs,
            "request_id": event.request_id,
        }
    obj: dict[str, Any] = {"type": event.type}
    if isinstance(event, InputAudioBufferAppend | ResponseAudioDelta):
        obj["audio"] = _b64(event.audio)
    elif isinstance(event, InputText):
        obj["text"] = event.text
    elif isinstance(event, TranscriptDelta):
        obj["delta"] = event.delta
    elif isinstance(event, TranscriptDone):
        obj["text"] = event.text
    elif isinstance(event, ResponseTextDelta):
        obj["content"] = event.content
        obj["role"] = event.role
    elif isinstance(event, SessionCreated):
        obj["session"] = event.session
        obj["capabilities"] = {"vad_enabled": event.vad_enabled}
    elif isinstance(event, ResponseDone):
        obj["metadata"] = event.metadata
    elif isinstance(event, SessionUpdate) and event.session is not None:
        obj["session"] = event.session
    elif isinstance(event, Error):
        obj["error_detail"] = {"message": event.message}
    return obj


def serialize(event: Event) -> str:
    """One compact JSON text frame for an event."""
    return json.dumps(to_dict(event), separators=(",", ":"), ensure_ascii=False)
