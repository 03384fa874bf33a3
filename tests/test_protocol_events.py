"""The sans-I/O wire events: what parses, what serialises, and the errors users see."""

from __future__ import annotations

import base64
import json

import pytest

from protocol import events
from protocol.events import ProtocolError, parse, parse_client, parse_server, serialize

ALL_EVENTS = [
    events.InputAudioBufferAppend(audio=b"\x01\x00\x02\x00"),
    events.InputAudioBufferCommit(),
    events.InputAudioBufferClear(),
    events.InputText(text="hello"),
    events.ResponseCancel(),
    events.SessionUpdate(),
    events.PlaybackStarted(),
    events.PlaybackStopped(),
    events.Pong(),
    events.ExecutorResult(
        request_id="r1", role="Market Data", content="42", account="a", project="p", uuid="u"
    ),
    events.SessionCreated(session={"project": "p"}, vad_enabled=True),
    events.TranscriptDelta(delta="hel"),
    events.TranscriptDone(text="hello"),
    events.ResponseCreated(),
    events.ResponseTextDelta(content="Hi", role="Researcher"),
    events.ResponseAudioDelta(audio=b"\x00\x00" * 8),
    events.ResponseAudioDone(),
    events.ResponseTextDone(),
    events.ResponseDone(metadata={"timings": {"first_audio_s": 0.4}}),
    events.ResponseInterrupted(),
    events.Error(message="bad things"),
    events.Ping(),
    events.ExecutorRequest(role="Market Data", request_id="r1", kwargs={"query": "q"}),
]


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips(event: events.Event) -> None:
    assert parse(serialize(event)) == event


# The field types the published SDK validates on every server frame.
SDK_STR = {"role", "content", "status"}
SDK_OPTIONAL_STR = {"audio", "delta", "text", "type", "request_id", "session_id"}
SDK_OBJECT = {"metadata", "kwargs"}


@pytest.mark.parametrize(
    "event",
    [
        e
        for e in ALL_EVENTS
        if type(e).type in events.SERVER_EVENT_TYPES or isinstance(e, events.ExecutorRequest)
    ],
    ids=lambda e: type(e).__name__,
)
def test_server_frames_pass_the_sdk_field_checks(event: events.Event) -> None:
    frame = json.loads(serialize(event))
    for key, value in frame.items():
        if key in SDK_STR:
            assert isinstance(value, str), key
        if key in SDK_OPTIONAL_STR:
            assert value is None or isinstance(value, str), key
        if key in SDK_OBJECT:
            assert isinstance(value, dict), key


def test_wire_shapes_match_the_hosted_service() -> None:
    assert json.loads(serialize(events.Error(message="boom"))) == {
        "type": "error",
        "error_detail": {"message": "boom"},
    }
    assert json.loads(serialize(events.SessionCreated(vad_enabled=False)))["capabilities"] == {
        "vad_enabled": False
    }
    request = json.loads(serialize(events.ExecutorRequest(role="R", request_id="x", kwargs={})))
    assert request["status"] == "wait" and "type" not in request
    result = json.loads(serialize(events.ExecutorResult(request_id="x", role="R", content="c")))
    assert result["request_type"] == "executor" and result["request_args"]["content"] == "c"
    audio = json.loads(serialize(events.ResponseAudioDelta(audio=b"\x01\x02")))["audio"]
    assert base64.b64decode(audio) == b"\x01\x02"


def test_error_frame_also_accepts_the_plain_error_field() -> None:
    assert parse('{"type": "error", "error": "no such project"}') == events.Error(
        message="no such project"
    )


def test_sdk_executor_result_with_extra_fields_parses() -> None:
    frame = {
        "account": "local",
        "request_type": "executor",
        "project": "p:1",
        "uuid": "u",
        "role": "Market Data",
        "request_id": "req_1",
        "request_args": {"query": "", "image": None, "content": "up 3%", "memory_updates": None},
    }
    result = parse_client(json.dumps(frame))
    assert isinstance(result, events.ExecutorResult)
    assert (result.request_id, result.content, result.project) == ("req_1", "up 3%", "p:1")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object, not list"),
        ('{"text": "hi"}', "no 'type' field"),
        ('{"type": 5}', "'type' must be a string"),
        ('{"type": "launch.rockets"}', "unknown event type 'launch.rockets'"),
        ('{"type": "input_text"}', "input_text: missing field 'text'"),
        ('{"type": "input_text", "text": 7}', "field 'text' must be a string, not int"),
        ('{"type": "input_audio_buffer.append", "audio": "%%%"}', "not valid base64"),
        ('{"type": "input_audio_buffer.append", "audio": "AAAA"}', "odd byte count"),
        ('{"type": "response.done"}', "sent by servers, not clients"),
        ('{"request_type": "executor", "request_args": {}}', "missing field 'request_id'"),
    ],
)
def test_client_frame_errors_name_the_problem(frame: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_client(frame)


def test_client_events_are_not_accepted_from_a_server() -> None:
    with pytest.raises(ProtocolError, match="sent by clients, not servers"):
        parse_server('{"type": "input_text", "text": "x"}')


def test_non_utf8_bytes_are_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="not UTF-8"):
        parse(b"\xff\xfe{")
