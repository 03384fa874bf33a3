"""Hostile frames: the parser and a live session meet random and malicious input.

The parser must answer anything with an event or a `ProtocolError` naming the
problem; a live session must answer every bad frame with an `error` frame,
stay usable, and leave its neighbours alone.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as sync_connect

from app.engine import EngineProcess
from protocol import events
from tests.wire import create, flow_config, headers

CLIENT_TYPES = sorted(events.CLIENT_EVENT_TYPES)
FIELDS = ["type", "text", "audio", "request_id", "request_args", "role", "request_type", "content"]

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
# Objects shaped like client frames, with a wrong or random value in every field.
frame_objects = st.fixed_dictionaries(
    {"type": st.sampled_from(CLIENT_TYPES) | json_values},
    optional={name: json_values for name in FIELDS[1:]},
)
executor_results = st.fixed_dictionaries(
    {"request_type": st.just("executor")},
    optional={"request_id": json_values, "request_args": json_values, "role": json_values},
)
hostile_text = (
    st.text(max_size=200)
    | frame_objects.map(json.dumps)
    | executor_results.map(json.dumps)
    | json_values.map(json.dumps)
    | st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth)
    | st.integers(1, 5000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth)
    # Deep nesting inside a field the server re-encodes (a custom agent's result).
    | st.integers(1, 990).map(
        lambda depth: (
            '{"request_type": "executor", "request_id": "r", "request_args": '
            '{"content": ' + "[" * depth + "]" * depth + "}}"
        )
    )
    # Lone UTF-16 surrogates, escaped as JSON allows.
    | st.text(st.characters(categories=["Cs"]) | st.characters(), min_size=1, max_size=8).map(
        lambda text: json.dumps({"type": "input_text", "text": text})
    )
)
hostile_frames = hostile_text | st.binary(max_size=200)
not_pcm16 = st.binary(min_size=1, max_size=99).filter(lambda b: len(b) % 2 == 1)

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(hostile_frames)
def test_the_parser_answers_anything_with_an_event_or_a_protocol_error(frame: str | bytes) -> None:
    try:
        event = events.parse_client(frame)
    except events.ProtocolError as exc:
        assert str(exc), "a protocol error must say what was wrong"
        return
    # Whatever parses can be written back: the server can echo or log it safely.
    events.serialize(event).encode("utf-8")


@FUZZ
@given(not_pcm16)
def test_audio_that_is_not_pcm16_is_named(audio: bytes) -> None:
    frame = json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()}
    )
    with pytest.raises(events.ProtocolError, match="not PCM16"):
        events.parse_client(frame)


def test_lone_surrogates_are_refused_not_echoed() -> None:
    """JSON may escape a lone UTF-16 surrogate; it is not text and cannot go back out as UTF-8."""
    with pytest.raises(events.ProtocolError, match="Unicode"):
        events.parse_client('{"type": "input_text", "text": "hi \\ud800"}')


# -- the same, against a live session --------------------------------------------------------

SENTINEL = '{"type": "fuzz.sentinel"}'


@pytest.fixture(scope="module")
def fuzz_session(echo_server: EngineProcess) -> Iterator[ClientConnection]:
    assert create(echo_server, "fuzzed", flow_config("A")).status_code == 201
    url = echo_server.base_url.replace("http", "ws", 1) + "/distiller/realtime/local/fuzzed/fuzzer"
    with sync_connect(url, additional_headers=headers(), max_size=2**27) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "session.created"
        yield ws


def _frames_until_sentinel(ws: ClientConnection) -> list[dict[str, Any]]:
    """Send a frame the server must refuse, and collect everything up to its error."""
    ws.send(SENTINEL)
    frames = []
    while True:
        frame = json.loads(ws.recv(timeout=20))
        if frame.get("type") == "error" and "fuzz.sentinel" in frame["error_detail"]["message"]:
            return frames
        frames.append(frame)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=hostile_frames)
def test_a_live_session_answers_hostile_frames_with_errors(
    fuzz_session: ClientConnection, frame: str | bytes
) -> None:
    try:
        events.parse_client(frame)
        expected_error = None
    except events.ProtocolError as exc:
        expected_error = str(exc)
    fuzz_session.send(frame)
    frames = _frames_until_sentinel(fuzz_session)
    errors = [f["error_detail"]["message"] for f in frames if f.get("type") == "error"]
    if expected_error is not None:
        assert expected_error in errors


def test_huge_and_oversized_frames_are_answered_and_the_session_lives(
    fuzz_session: ClientConnection, echo_server: EngineProcess
) -> None:
    huge_text = json.dumps({"type": "input_text", "text": "word " * 10_000})
    over_limit = json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (9 * 1024 * 1024)})
    deep = "[" * 200_000 + "]" * 200_000
    fuzz_session.send(over_limit)
    fuzz_session.send(deep)
    fuzz_session.send(b"\xff\xfe\x00 not utf-8")
    errors = [
        f["error_detail"]["message"]
        for f in _frames_until_sentinel(fuzz_session)
        if f.get("type") == "error"
    ]
    assert any("over the limit of 8388608 bytes" in e for e in errors)
    assert any("nested too deeply" in e for e in errors)
    assert any("not UTF-8" in e for e in errors)
    # A huge but legal query is answered in full.
    fuzz_session.send(huge_text)
    answer = []
    while True:
        frame = json.loads(fuzz_session.recv(timeout=60))
        if frame.get("type") == "response.text.delta":
            answer.append(frame["content"])
        if frame.get("type") == "response.done":
            break
    assert "".join(answer).split() == ["word"] * 10_000
