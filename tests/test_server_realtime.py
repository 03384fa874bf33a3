"""Realtime sessions over a real WebSocket: order, skips, custom agents, queues, bad frames."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import websockets

from app.engine import EngineProcess
from tests.wire import Peer, connect, create, flow_config, session, text_of

QUESTION = "what should I buy today"


def types(frames: list[dict]) -> list[str]:
    return [f.get("type", "executor") for f in frames]


async def test_two_agent_flow_streams_in_order(echo_server: EngineProcess) -> None:
    create(echo_server, "order", flow_config("Researcher", "Writer"))
    async with session(echo_server, "order", "u-order") as peer:
        await peer.send({"type": "input_text", "text": QUESTION})
        frames = await peer.until("response.done")
    assert frames[0]["type"] == "response.created"
    roles = [f["role"] for f in frames if f["type"] == "response.text.delta"]
    boundary = roles.index("Writer")
    assert set(roles[:boundary]) == {"Researcher"} and set(roles[boundary:]) == {"Writer"}
    assert text_of(frames, "Researcher") == QUESTION
    assert text_of(frames, "Writer") == QUESTION
    assert types(frames)[-2:] == ["response.text.done", "response.done"]
    assert "response.audio.delta" not in types(frames)  # tts engine none: text only
    timings = frames[-1]["metadata"]["timings"]["agents"]
    assert timings["Researcher"]["first_text_s"] <= timings["Writer"]["first_text_s"]


async def test_branches_run_concurrently_but_present_in_order(echo_server: EngineProcess) -> None:
    config = flow_config(
        "Left", "Right", "Join", edges={"Left": ["Join"], "Right": ["Join"]}, word_delay_ms=30
    )
    create(echo_server, "diamond", config)
    async with session(echo_server, "diamond", "u-diamond") as peer:
        await peer.send({"type": "input_text", "text": "one two three four five"})
        frames = await peer.until("response.done")
    roles = [f["role"] for f in frames if f["type"] == "response.text.delta"]
    assert list(dict.fromkeys(roles)) == ["Left", "Right", "Join"]
    # Right ran while Left was presented, so it is ready the moment Left ends.
    timings = frames[-1]["metadata"]["timings"]["agents"]
    assert timings["Right"]["first_text_s"] - timings["Left"]["first_text_s"] >= 0.1


async def test_custom_agent_round_trip(echo_server: EngineProcess) -> None:
    create(echo_server, "custom", flow_config("Researcher", "Market Data", custom=("Market Data",)))
    async with session(echo_server, "custom", "u-custom") as peer:
        await peer.send({"type": "input_text", "text": "price of gold"})
        frames = await peer.until("executor")  # stops at the first untyped frame
        request = frames[-1]
        assert request["status"] == "wait" and request["role"] == "Market Data"
        assert request["kwargs"]["query"] == "price of gold"
        assert request["kwargs"]["context"] == {"Researcher": "price of gold"}
        await peer.send(
            {
                "account": "local",
                "project": "custom",
                "uuid": "u-custom",
                "role": "Market Data",
                "request_type": "executor",
                "request_id": request["request_id"],
                "request_args": {"content": "Gold is 2400 dollars.", "memory_updates": None},
            }
        )
        rest = await peer.until("response.done")
    assert text_of(rest, "Market Data") == "Gold is 2400 dollars."
    assert "errors" not in rest[-1]["metadata"]


async def test_custom_agent_timeout_gives_a_clear_answer(echo_server: EngineProcess) -> None:
    create(
        echo_server, "silent-custom", flow_config("Market Data", "Writer", custom=("Market Data",))
    )
    async with session(echo_server, "silent-custom", "u-timeout") as peer:
        await peer.send({"type": "input_text", "text": "anything"})
        frames = await peer.until("response.done", timeout=30)  # server timeout is 2 s in tests
    message = text_of(frames, "Market Data")
    assert "Market Data did not answer within 2 s" in message
    assert text_of(frames, "Writer") == "anything"  # the response still completes
    assert "Market Data" in frames[-1]["metadata"]["errors"]


async def test_second_connection_of_a_user_is_refused_with_1011(
    echo_server: EngineProcess,
) -> None:
    create(echo_server, "single", flow_config("A"))
    async with (
        session(echo_server, "single", "same-user"),
        connect(echo_server, "single", "same-user") as second,
    ):
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await asyncio.wait_for(second.recv(), 10)
    assert closed.value.rcvd.code == 1011
    assert closed.value.rcvd.reason == "User is already connected"
    async with session(echo_server, "single", "same-user"):  # free again after the first left
        pass


async def test_unknown_project_or_version_gets_an_error_then_close(
    echo_server: EngineProcess,
) -> None:
    create(echo_server, "exists", flow_config("A"))
    for ref, message in [
        ("ghost", "project 'ghost' not found"),
        ("exists:9", "project 'exists' version 9 not found"),
    ]:
        async with connect(echo_server, ref, "u-ghost") as ws:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert frame == {"type": "error", "error_detail": {"message": message}}
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)


async def test_pinned_version_is_served(echo_server: EngineProcess) -> None:
    create(echo_server, "pinned", flow_config("Old"))
    create(echo_server, "pinned", flow_config("New"))
    async with connect(echo_server, "pinned:0", "u-pin") as ws:
        created = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert created["session"]["project_version"] == 0
    assert created["session"]["agents"] == ["Old", "Flow"]


async def test_cancel_with_no_response_sends_nothing(echo_server: EngineProcess) -> None:
    create(echo_server, "idle", flow_config("A"))
    async with session(echo_server, "idle", "u-idle") as peer:
        await peer.send({"type": "response.cancel"})
        assert await peer.silent_for(1.0)


async def test_cancel_mid_flow_skips_exactly_the_current_agent(echo_server: EngineProcess) -> None:
    words = " ".join(f"w{i}" for i in range(15))
    create(echo_server, "skippy", flow_config("First", "Second", "Third", word_delay_ms=60))
    async with session(echo_server, "skippy", "u-skip") as peer:
        await peer.send({"type": "input_text", "text": words})
        await peer.until("response.text.delta")
        await peer.send({"type": "response.cancel"})
        frames = await peer.until("response.done")
    roles = [f["role"] for f in frames if f["type"] == "response.text.delta"]
    first_part = roles[: roles.index("Second")] if "Second" in roles else roles
    assert set(first_part) <= {"First"}
    assert "First" not in roles[roles.index("Second") :]  # nothing of First after the skip
    assert len(text_of(peer.received, "First")) < len(words)
    assert text_of(frames, "Second") == words and text_of(frames, "Third") == words
    assert types(frames).count("response.done") == 1
    assert frames[-1]["metadata"]["skipped"] == ["First"]


async def test_queries_during_a_response_are_queued(echo_server: EngineProcess) -> None:
    create(echo_server, "queue", flow_config("A", word_delay_ms=20))
    async with session(echo_server, "queue", "u-queue") as peer:
        for text in ("first question here", "second one", "third"):
            await peer.send({"type": "input_text", "text": text})
        answers = []
        for _ in range(3):
            answers.append(text_of(await peer.until("response.done"), "A"))
    assert answers == ["first question here", "second one", "third"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("this is not json", "not valid JSON"),
        ('{"type": "teleport"}', "unknown event type 'teleport'"),
        ('{"type": "input_text"}', "missing field 'text'"),
        ('{"type": "input_text", "text": "   "}', "text is empty"),
        ('{"type": "input_audio_buffer.append", "audio": "@@not base64@@"}', "not valid base64"),
        ('{"type": "input_audio_buffer.append", "audio": "AAAA"}', "odd byte count"),
        (
            '{"request_type": "executor", "request_id": "nope", "request_args": {"content": "x"}}',
            "unknown request_id 'nope'",
        ),
    ],
)
async def test_bad_frames_get_an_error_and_the_session_lives(
    echo_server: EngineProcess, frame: str, message: str
) -> None:
    create(echo_server, "robust", flow_config("A"))
    async with session(echo_server, "robust", "u-bad") as peer:
        await peer.send(frame)
        error = await peer.recv()
        assert error["type"] == "error" and message in error["error_detail"]["message"]
        await peer.send({"type": "input_text", "text": "still here"})
        assert text_of(await peer.until("response.done"), "A") == "still here"


async def test_oversized_frame_is_refused_and_the_session_lives(
    echo_server: EngineProcess,
) -> None:
    create(echo_server, "big", flow_config("A"))
    async with session(echo_server, "big", "u-big") as peer:
        await peer.send(json.dumps({"type": "input_text", "text": "x" * (9 * 1024 * 1024)}))
        error = await peer.recv(timeout=30)
        assert "over the limit" in error["error_detail"]["message"]
        await peer.send({"type": "input_text", "text": "small"})
        assert text_of(await peer.until("response.done"), "A") == "small"


async def test_bad_frames_do_not_disturb_another_session(echo_server: EngineProcess) -> None:
    create(echo_server, "neighbours", flow_config("A", word_delay_ms=20))
    async with (
        session(echo_server, "neighbours", "calm") as calm,
        session(echo_server, "neighbours", "noisy") as noisy,
    ):
        await calm.send({"type": "input_text", "text": "one two three four"})
        for _ in range(20):
            await noisy.send("garbage")
        frames = await calm.until("response.done")
    assert "error" not in types(frames)
    assert text_of(frames, "A") == "one two three four"


async def _converse(server: EngineProcess, uuid: str, text: str) -> dict:
    async with connect(server, "memory", uuid) as ws:
        peer = Peer(ws)
        created = await peer.recv()
        await peer.send({"type": "input_text", "text": text})
        await peer.until("response.done")
    return created


async def test_history_continues_across_reconnect_and_restart(
    tmp_path: Path, store_args: list[str]
) -> None:
    args = ["--no-speech", *store_args]
    with EngineProcess(tmp_path, provider="echo", extra_args=args) as server:
        create(server, "memory", flow_config("A", "B"))
        first = await _converse(server, "returning", "hello")
        again = await _converse(server, "returning", "hello again")
        stranger = await _converse(server, "stranger", "hi")
    assert first["session"]["history_turns"] == 0
    assert again["session"]["history_turns"] == 3  # user + two agents
    assert stranger["session"]["history_turns"] == 0
    with EngineProcess(tmp_path, provider="echo", extra_args=args) as server:
        after_restart = await _converse(server, "returning", "back")
    assert after_restart["session"]["history_turns"] == 6
