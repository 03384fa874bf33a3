"""Realtime sessions through the SDK against a real text-only server.

What goes over the wire is read from the ``websockets`` library's own frame
log (DEBUG on ``websockets.client``), so "nothing was sent" is observed on the
real connection rather than inferred.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from app.engine import EngineProcess
from protocol import (
    AsyncDistillerClient,
    ConnectionLostError,
    ProjectNotFoundError,
    RealtimeSession,
    ServerError,
    UserAlreadyConnectedError,
)
from protocol.events import (
    Error,
    ExecutorRequest,
    ResponseCreated,
    ResponseDone,
    ResponseTextDelta,
    ServerEvent,
    SessionCreated,
)
from tests.wire import flow_config

TIMEOUT = 30.0


@pytest.fixture(scope="module")
def pinging_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    """PINGs every 0.2 s and drops sessions idle for 1.5 s."""
    server = EngineProcess(
        tmp_path_factory.mktemp("ping-data"),
        provider="echo",
        extra_args=["--no-speech", "--ping-interval", "0.2", "--idle-timeout", "1.5"],
    )
    server.start()
    yield server
    server.stop()


def make_project(client: AsyncDistillerClient, name: str, config: dict[str, Any]) -> str:
    client.realtime_distiller.create_project(json_config=config, project=name)
    return name


async def collect(responses: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r async for r in responses]


def texts_by_agent(responses: list[dict[str, Any]]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for r in responses:
        if r["type"] == "response.text.delta":
            texts[r["role"]] = texts.get(r["role"], "") + r["content"]
    return texts


async def test_get_responses_streams_one_answer_and_stops_at_response_done(
    client: AsyncDistillerClient,
) -> None:
    project = make_project(client, "plain-flow", flow_config("Researcher", "Writer"))
    async with client.realtime_distiller(project=project, uuid="reader") as vc:
        assert isinstance(vc, RealtimeSession)
        await vc.send_text_query("tell me about solar power")
        first = await asyncio.wait_for(collect(vc.get_responses()), TIMEOUT)
        assert [r["type"] for r in first[:2]] == ["session.created", "response.created"]
        assert first[-2:] == [{"type": "response.text.done"}, first[-1]]
        assert first[-1]["type"] == "response.done"
        assert set(first[-1]["metadata"]["timings"]["agents"]) == {"Researcher", "Writer"}
        assert texts_by_agent(first) == {
            "Researcher": "tell me about solar power",
            "Writer": "tell me about solar power",
        }
        # The loop ended at response.done; the next query gets its own stream.
        await vc.send_text_query("and wind")
        second = await asyncio.wait_for(collect(vc.get_responses()), TIMEOUT)
        assert second[0]["type"] == "response.created"
        assert texts_by_agent(second)["Writer"] == "and wind"


async def test_events_are_typed_and_span_responses(client: AsyncDistillerClient) -> None:
    project = make_project(client, "typed-flow", flow_config("Solo"))
    async with client.realtime_distiller(project=project, uuid="typed") as vc:
        assert vc.session_info["agents"] == ["Solo", "Flow"] and vc.vad_enabled is False
        seen: list[ServerEvent] = []

        async def read_two_responses() -> None:
            async for event in vc.events():
                seen.append(event)
                if sum(isinstance(e, ResponseDone) for e in seen) == 2:
                    return

        reader = asyncio.create_task(read_two_responses())
        await vc.send_text_query("one")
        await vc.send_text_query("two")
        await asyncio.wait_for(reader, TIMEOUT)
        assert isinstance(seen[0], SessionCreated)
        deltas = [e for e in seen if isinstance(e, ResponseTextDelta)]
        assert [(d.role, d.content) for d in deltas] == [("Solo", "one"), ("Solo", "two")]
        assert sum(isinstance(e, ResponseCreated) for e in seen) == 2
        assert not vc.response_active


async def test_sync_and_async_executors_get_only_the_arguments_they_take(
    client: AsyncDistillerClient,
) -> None:
    config = flow_config("Researcher", "Quotes", "Summary", custom=("Quotes", "Summary"))
    project = make_project(client, "executor-flow", config)
    calls: dict[str, Any] = {}

    def quotes(query: str) -> str:  # the server also sends 'context': filtered out
        calls["quotes"] = query
        return f"quotes for {query}"

    async def summary(query: str, **everything: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        calls["summary"] = everything
        return {"seen": sorted(everything)}

    executors = {"Quotes": quotes, "Summary": summary}
    async with client.realtime_distiller(
        project=project, uuid="exec", executor_dict=executors
    ) as vc:
        await vc.send_text_query("gold price")
        responses = await asyncio.wait_for(collect(vc.get_responses()), TIMEOUT)
    texts = texts_by_agent(responses)
    assert texts["Quotes"] == "quotes for gold price"
    assert calls["quotes"] == "gold price"
    assert calls["summary"]["context"]["Quotes"] == "quotes for gold price"
    assert texts["Summary"] == "{'seen': ['context']}"
    # Executor requests are answered, never yielded.
    assert all("status" not in r for r in responses)


async def test_failing_or_missing_executor_answers_with_the_reason(
    client: AsyncDistillerClient,
) -> None:
    config = flow_config("Broken", "Unserved", custom=("Broken", "Unserved"))
    project = make_project(client, "failing-flow", config)

    def broken(query: str) -> str:
        raise ZeroDivisionError("no prices today")

    async with client.realtime_distiller(
        project=project, uuid="fail", executor_dict={"Broken": broken}
    ) as vc:
        await vc.send_text_query("anything")
        texts = texts_by_agent(await asyncio.wait_for(collect(vc.get_responses()), TIMEOUT))
    assert "'Broken' failed: ZeroDivisionError: no prices today" in texts["Broken"]
    assert "'Unserved' has no callable in executor_dict" in texts["Unserved"]


async def test_executor_dict_must_map_names_to_callables(client: AsyncDistillerClient) -> None:
    with pytest.raises(TypeError, match=r"executor_dict\['Quotes'\] must be callable"):
        client.realtime_distiller(project="p", uuid="u", executor_dict={"Quotes": "not code"})


async def test_executor_requests_show_in_the_typed_stream(client: AsyncDistillerClient) -> None:
    project = make_project(client, "visible-exec", flow_config("Tool", custom=("Tool",)))
    async with client.realtime_distiller(
        project=project, uuid="vis", executor_dict={"Tool": lambda query: "done"}
    ) as vc:
        await vc.send_text_query("run the tool")
        seen = []
        async for event in vc.events():
            seen.append(event)
            if isinstance(event, ResponseDone):
                break
    request = next(e for e in seen if isinstance(e, ExecutorRequest))
    assert request.role == "Tool" and request.kwargs["query"] == "run the tool"
    assert [e.content for e in seen if isinstance(e, ResponseTextDelta)] == ["done"]


async def test_cancel_response_sends_nothing_when_no_response_is_active(
    client: AsyncDistillerClient, wire_log: Callable[[], list[str]]
) -> None:
    project = make_project(client, "idle-cancel", flow_config("Solo"))
    async with client.realtime_distiller(project=project, uuid="idle") as vc:
        await vc.cancel_response()  # before any query
        await vc.send_text_query("hello")
        await asyncio.wait_for(collect(vc.get_responses()), TIMEOUT)
        await vc.cancel_response()  # after response.done
        await vc.send_text_query("again")  # the session still works
        await asyncio.wait_for(collect(vc.get_responses()), TIMEOUT)
    assert "input_text" in wire_log()
    assert "response.cancel" not in wire_log()


async def test_cancel_mid_flow_skips_only_the_current_agent(
    client: AsyncDistillerClient, wire_log: Callable[[], list[str]]
) -> None:
    config = flow_config("First", "Second", word_delay_ms=60)
    project = make_project(client, "mid-cancel", config)
    query = "one two three four five six seven eight nine ten"
    async with client.realtime_distiller(project=project, uuid="mid") as vc:
        await vc.send_text_query(query)
        responses = []
        async for response in vc.get_responses():
            responses.append(response)
            if response.get("role") == "First" and response["content"] == "one":
                await vc.cancel_response()
    assert wire_log().count("response.cancel") == 1
    texts = texts_by_agent(responses)
    assert len(texts["First"].split()) < 10  # cut short
    assert texts["Second"] == query  # the next agent went on by itself
    assert responses[-1]["metadata"]["skipped"] == ["First"]


async def test_audio_and_playback_methods_reach_the_server(
    client: AsyncDistillerClient, wire_log: Callable[[], list[str]]
) -> None:
    project = make_project(client, "audio-calls", flow_config("Solo"))
    async with client.realtime_distiller(project=project, uuid="audio") as vc:
        await vc.commit_audio()
        await vc.clear_audio_buffer()
        await vc.notify_playback_started()
        await vc.notify_playback_stopped()
        await vc.send_text_query("still fine")
        texts = texts_by_agent(await asyncio.wait_for(collect(vc.get_responses()), TIMEOUT))
        assert texts == {"Solo": "still fine"}
        # This server has no speech recognition: appending audio earns an error frame.
        await vc.send_audio_chunk(b"\x00\x01" * 160)
        with pytest.raises(ServerError, match="no speech recognition loaded"):
            await asyncio.wait_for(collect(vc.get_responses()), TIMEOUT)
    assert wire_log()[:5] == [
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "playback.started",
        "playback.stopped",
        "input_text",
    ]
    assert "input_audio_buffer.append" in wire_log()


async def test_bad_input_is_refused_with_the_reason(client: AsyncDistillerClient) -> None:
    project = make_project(client, "bad-input", flow_config("Solo"))
    async with client.realtime_distiller(project=project, uuid="bad") as vc:
        with pytest.raises(ValueError, match="text query is empty"):
            await vc.send_text_query("   ")
        with pytest.raises(ValueError, match="audio_bytes is empty"):
            await vc.send_audio_chunk(b"")
        with pytest.raises(ValueError, match="odd byte count"):
            await vc.send_audio_chunk(b"\x00\x01\x02")
        with pytest.raises(TypeError, match="audio_bytes must be bytes"):
            await vc.send_audio_chunk("text")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="text query is empty"):
            await vc.send_text_and_respond("")
    with pytest.raises(RuntimeError, match="not connected"):
        await vc.send_text_query("after close")


async def test_audio_is_held_back_while_a_response_plays(
    client: AsyncDistillerClient, wire_log: Callable[[], list[str]]
) -> None:
    project = make_project(client, "no-barge-in", flow_config("Slow", word_delay_ms=100))
    async with client.realtime_distiller(project=project, uuid="hold") as vc:
        await vc.send_text_query("a b c d e")
        async for response in vc.get_responses():
            if response.get("content") in ("a", " b"):  # words are 100 ms apart: mid-answer
                assert vc.response_active
                await vc.send_audio_chunk(b"\x00\x00" * 160)  # dropped: not barge-in mode
    assert "input_text" in wire_log()
    assert "input_audio_buffer.append" not in wire_log()


async def test_unknown_project_or_version_fails_the_connection(
    client: AsyncDistillerClient,
) -> None:
    with pytest.raises(ProjectNotFoundError, match="project 'nowhere' not found"):
        async with client.realtime_distiller(project="nowhere", uuid="u"):
            pass
    project = make_project(client, "pinned", flow_config("Solo"))
    with pytest.raises(ProjectNotFoundError, match="'pinned' version 3"):
        async with client.realtime_distiller(project=project, uuid="u", project_version="3"):
            pass
    async with client.realtime_distiller(project=project, uuid="u", project_version=0) as vc:
        assert vc.session_info["project_version"] == 0


async def test_second_connection_of_the_same_user_is_refused(
    client: AsyncDistillerClient,
) -> None:
    project = make_project(client, "single-seat", flow_config("Solo"))
    async with client.realtime_distiller(project=project, uuid="twin"):
        with pytest.raises(UserAlreadyConnectedError, match="'twin' is already connected") as err:
            async with client.realtime_distiller(project=project, uuid="twin"):
                pass
        assert err.value.code == 1011
        async with client.realtime_distiller(project=project, uuid="other-user") as other:
            assert other.connected


async def test_ping_is_answered_and_a_dropped_connection_is_reported(
    pinging_server: EngineProcess, wire_log: Callable[[], list[str]]
) -> None:
    client = AsyncDistillerClient(api_key="k", base_url=pinging_server.base_url)
    make_project(client, "pinged", flow_config("Solo"))
    async with client.realtime_distiller(project="pinged", uuid="idle-user") as vc:
        with pytest.raises(ConnectionLostError, match="Connection timeout") as lost:
            await asyncio.wait_for(collect_events(vc), TIMEOUT)
        assert lost.value.code == 1008
        assert not vc.connected
        with pytest.raises(ConnectionLostError):
            await vc.send_text_query("too late")
    assert wire_log().count("PONG") >= 3


async def collect_events(vc: RealtimeSession) -> list[ServerEvent]:
    return [event async for event in vc.events()]


async def test_server_error_frames_reach_the_typed_stream(client: AsyncDistillerClient) -> None:
    project = make_project(client, "error-frames", flow_config("Solo"))
    async with client.realtime_distiller(project=project, uuid="errs") as vc:
        await vc.send_audio_chunk(b"\x00\x00" * 80)
        async for event in vc.events():
            if isinstance(event, Error):
                assert "no speech recognition loaded" in event.message
                break
        await vc.send_text_query("the session goes on")
        texts = texts_by_agent(await asyncio.wait_for(collect(vc.get_responses()), TIMEOUT))
        assert texts == {"Solo": "the session goes on"}
